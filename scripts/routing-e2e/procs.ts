/**
 * The processes of one end-to-end run: N simulator processes (scripts/routing-e2e/sim-proc.ts) and the gateway
 * (src/main.ts with a generated config, `auth: none`), all compiled once with the project's tsc into
 * bench/tmp/routing-e2e/dist and run with plain `node` (no loader in the measured processes), or through tsx.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { freePort, spawnChild, stopChild, waitForLine, type Child } from '../bench/procs.js';
import type { PolicyName } from '../../src/routing/types.js';

export interface Runtime {
  readonly kind: 'compiled' | 'tsx';
  nodeArgs(sourceFile: string): string[];
}

/** Compiles src/ and scripts/routing-e2e/ (incrementally) into `tmp`/dist; falls back to tsx if nothing is emitted. */
export function prepareRuntime(root: string, tmp: string, want: 'compiled' | 'tsx', log: (s: string) => void): Runtime {
  const tsx: Runtime = { kind: 'tsx', nodeArgs: (f) => ['--import', 'tsx', resolve(root, f)] };
  if (want === 'tsx') return tsx;
  mkdirSync(tmp, { recursive: true });
  const out = join(tmp, 'dist');
  const rel = (p: string) => relative(tmp, resolve(root, p));
  const tsconfig = join(tmp, 'tsconfig.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: rel('tsconfig.json'),
      compilerOptions: {
        outDir: rel(out),
        rootDir: rel('.'),
        noEmit: false,
        declaration: false,
        sourceMap: false,
        incremental: true,
        tsBuildInfoFile: rel(join(out, '.tsbuildinfo')),
      },
      include: [rel('src'), rel('scripts/routing-e2e')],
    }),
  );
  log('compiling src/ and scripts/routing-e2e/ with tsc (incremental) ...');
  const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
  // Type errors elsewhere in a work-in-progress tree do not stop tsc from emitting.
  spawnSync(process.execPath, [tsc, '-p', tsconfig], { cwd: root, encoding: 'utf8' });
  const main = join(out, 'src/main.js');
  const sim = join(out, 'scripts/routing-e2e/sim-proc.js');
  if (!existsSync(main) || !existsSync(sim)) {
    log('tsc emitted nothing; falling back to tsx');
    return tsx;
  }
  return { kind: 'compiled', nodeArgs: (f) => [join(out, f.replace(/\.ts$/, '.js'))] };
}

export interface SimProc {
  readonly child: Child;
  readonly url: string;
  readonly statsUrl: string;
  /** The engine's KV-events endpoints when it publishes them. */
  readonly kv: { readonly endpoint: string; readonly replay: string | null } | null;
}

export interface SimSettings {
  readonly timeScale: number;
  readonly kvBlocks: number;
  readonly speed: number;
  readonly model: string;
  /** Engines publish vLLM-style KV events (and gateways subscribe, when their config asks: see startGateway). */
  readonly kvEvents?: boolean;
}

export async function startSims(rt: Runtime, n: number, s: SimSettings): Promise<SimProc[]> {
  const started = await Promise.allSettled(
    Array.from({ length: n }, async (_, i) => {
      const child = spawnChild({
        name: `sim-${i}`,
        command: process.execPath,
        args: [
          ...rt.nodeArgs('scripts/routing-e2e/sim-proc.ts'),
          `--time-scale=${s.timeScale}`,
          `--kv-blocks=${s.kvBlocks}`,
          `--speed=${s.speed}`,
          `--seed=${i + 1}`,
          `--model=${s.model}`,
          ...(s.kvEvents ? ['--kv-events'] : []),
        ],
        stdinPipe: true,
      });
      const m = await waitForLine(child, /^(\{.*\})$/m, 30_000);
      const info = JSON.parse(m[1] as string) as { url: string; stats: string; kv?: { endpoint: string; replay: string | null } | null };
      // Nothing more is expected on stdout; keep the pipe drained anyway so the child can never block on it.
      child.proc.stdout?.resume();
      return { child, url: info.url, statsUrl: info.stats, kv: info.kv ?? null };
    }),
  );
  const ok = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const bad = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (bad) {
    await Promise.all(ok.map((p) => stopChild(p.child)));
    throw bad.reason;
  }
  return ok;
}

export interface GatewayProc {
  readonly child: Child;
  readonly url: string;
}

/** The config's `routing:` section (scrape/probe periods and queue wait, in real ms), or null to leave it out. */
export type RoutingSection = Record<string, unknown> | null;

type Backend = { url: string; kv?: { endpoint: string; replay: string | null } | null };

function gatewayConfig(port: number, policy: PolicyName, model: string, backends: readonly Backend[], routing: RoutingSection, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...extra,
    server: { listen: `127.0.0.1:${port}`, drain: '1s' },
    auth: 'none',
    limits: [],
    usage: false,
    telemetry: { metrics: true, tracing: false, log_level: 'warn' },
    ...(routing ? { routing } : {}),
    models: [
      {
        name: model,
        policy,
        backends: backends.map((b) => ({ url: b.url, kind: 'vllm', ...(b.kv ? { kv_events: { endpoint: b.kv.endpoint, ...(b.kv.replay ? { replay_endpoint: b.kv.replay } : {}), tokenizer: 'simulator' } } : {}) })),
      },
    ],
  };
}

/** Whether this gateway build accepts a `routing:` section (the config schema is strict: unknown keys are errors). */
export function supportsRoutingSection(rt: Runtime, tmp: string, routing: RoutingSection): boolean {
  const file = join(tmp, 'gateway-check.yaml');
  writeFileSync(file, JSON.stringify(gatewayConfig(1, 'round_robin', 'm', [{ url: 'http://127.0.0.1:1' }], routing)));
  return spawnSync(process.execPath, [...rt.nodeArgs('src/main.ts'), 'check-config', file], { stdio: 'ignore' }).status === 0;
}

/** Writes the gateway's config for one policy over the simulators and starts it; resolves when it listens. */
export async function startGateway(
  rt: Runtime,
  tmp: string,
  policy: PolicyName,
  model: string,
  sims: readonly SimProc[],
  routing: RoutingSection,
  extra?: Record<string, unknown>,
  replica = 0,
): Promise<GatewayProc> {
  const port = await freePort();
  // Gateways subscribe to the engines' KV events only when `extra` asks (kvEvents: true); it is not a config key.
  const { kvEvents, ...rest } = extra ?? {};
  const config = gatewayConfig(port, policy, model, sims.map((s) => ({ url: s.url, kv: kvEvents ? s.kv : null })), routing, rest);
  const file = join(tmp, `gateway-${policy}${replica > 0 ? `-${replica}` : ''}.yaml`);
  // JSON is YAML.
  writeFileSync(file, JSON.stringify(config, null, 2));
  const child = spawnChild({ name: `gateway(${policy}${replica > 0 ? ` #${replica}` : ''})`, command: process.execPath, args: [...rt.nodeArgs('src/main.ts'), '--config', file] });
  await waitForLine(child, /infergate listening on (\S+)/, 30_000);
  child.proc.stdout?.resume();
  return { child, url: `http://127.0.0.1:${port}` };
}

export async function stopAllOf(children: readonly Child[]): Promise<void> {
  await Promise.all(children.map((c) => stopChild(c)));
}
