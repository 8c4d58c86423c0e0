/**
 * `npm run sim -- --replicas 4 --port 9000 --personality vllm --engine simple --time-scale 1 --model sim-llama-8b`
 * Starts simulated backends on consecutive ports (port 0: ephemeral ones), prints one URL per line, and closes them
 * on SIGINT / SIGTERM.
 */
import { parseArgs } from 'node:util';
import { startSimFleet } from './server.js';
import { ENGINE_NAMES, PERSONALITIES, type EngineName, type Personality, type SimOptions } from './types.js';

const USAGE = `usage: npm run sim -- [options]
  --replicas N          instances to start (default 1)
  --port P              first port; instance i listens on P+i (default 0: ephemeral ports)
  --host H              listen address (default 127.0.0.1)
  --personality NAME    ${PERSONALITIES.join(' | ')} (default vllm)
  --engine NAME         ${ENGINE_NAMES.join(' | ')} (default simple)
  --model ID            served model id (default sim-llama-8b)
  --extra-model ID      another accepted model id (repeatable)
  --time-scale X        simulated ms * X = real ms (default 1)
  --ttft-ms MS          simple engine base time to first token (default 40)
  --itl-ms MS           simple engine base inter-token latency (default 8)
  --speed X             speed multiplier (default 1)
  --kv-blocks N         KV capacity in 16-token blocks (default 29205)
  --fast-tokens N       fast engine: tokens in the fixed response (default 16)
  --seed N              output text seed (default 0)
  --no-log              disable the request log (benchmarks)
  --help`;

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got ${v}`);
  return n;
}

function oneOf<T extends string>(name: string, v: string | undefined, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) throw new Error(`--${name} must be one of ${allowed.join(', ')}, got ${v}`);
  return v as T;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      replicas: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      personality: { type: 'string' },
      engine: { type: 'string' },
      model: { type: 'string' },
      'extra-model': { type: 'string', multiple: true },
      'time-scale': { type: 'string' },
      'ttft-ms': { type: 'string' },
      'itl-ms': { type: 'string' },
      speed: { type: 'string' },
      'kv-blocks': { type: 'string' },
      'fast-tokens': { type: 'string' },
      seed: { type: 'string' },
      'no-log': { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const options: SimOptions & { basePort?: number } = {
    basePort: num('port', values.port) ?? 0,
    host: values.host,
    personality: oneOf<Personality>('personality', values.personality, PERSONALITIES),
    engine: oneOf<EngineName>('engine', values.engine, ENGINE_NAMES),
    model: values.model,
    extraModels: values['extra-model'],
    timeScale: num('time-scale', values['time-scale']),
    ttftMs: num('ttft-ms', values['ttft-ms']),
    itlMs: num('itl-ms', values['itl-ms']),
    speed: num('speed', values.speed),
    kvBlocks: num('kv-blocks', values['kv-blocks']),
    fastResponseTokens: num('fast-tokens', values['fast-tokens']),
    seed: num('seed', values.seed),
    log: !values['no-log'],
  };
  const replicas = num('replicas', values.replicas) ?? 1;
  const fleet = await startSimFleet(replicas, options);
  for (const s of fleet) process.stdout.write(`${s.url}\n`);
  process.stderr.write(`sim: ${fleet.length} ${fleet[0]?.personality ?? ''} replica(s) running; Ctrl-C to stop\n`);

  let closing = false;
  const shutdown = (): void => {
    if (closing) return;
    closing = true;
    void Promise.all(fleet.map((s) => s.close())).then(() => process.exit(0));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`sim: ${(err as Error).message ?? String(err)}\n${USAGE}\n`);
  process.exit(2);
});
