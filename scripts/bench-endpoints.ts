/**
 * What the Responses API translation costs: the gateway process (pinned to its own core when taskset and two cores
 * exist) in front of the fast simulator, closed-loop load from autocannon, chat completions against the same
 * conversation asked through the Responses API over a chat-only (SGLang-kind) backend, streamed and not. Cases are
 * interleaved in short windows, round after round, and compared per round (a shared machine drifts; neighbouring
 * windows see the same weather). Prints a table and writes bench/results/endpoints.md.
 *
 *   npm run bench:endpoints [-- --rounds 3 --seconds 3 --connections 16]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { closedLoop } from './bench/loadgen.js';
import { CPU_COUNT, DRIVER_CPU, PINNED, PROXY_CPU, freePort, installCleanup, pinSelf, spawnChild, stopAll, waitForLine, waitForPort } from './bench/procs.js';
import { FAST_MODEL } from './bench/workload.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '3' }, connections: { type: 'string', default: '16' } },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

const messages = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'Write one sentence about the sea.' },
];
interface Case {
  readonly id: string;
  readonly path: string;
  readonly body: string;
  /** The chat case this one is compared with. */
  readonly baseline: string | null;
}
const CASES: readonly Case[] = [
  { id: 'chat', path: '/v1/chat/completions', body: JSON.stringify({ model: 'chat', messages, max_tokens: 64 }), baseline: null },
  { id: 'responses (translated)', path: '/v1/responses', body: JSON.stringify({ model: 'chat-only', instructions: messages[0]!.content, input: messages[1]!.content, max_output_tokens: 64 }), baseline: 'chat' },
  { id: 'chat, streamed', path: '/v1/chat/completions', body: JSON.stringify({ model: 'chat', messages, max_tokens: 64, stream: true }), baseline: null },
  {
    id: 'responses (translated), streamed',
    path: '/v1/responses',
    body: JSON.stringify({ model: 'chat-only', instructions: messages[0]!.content, input: messages[1]!.content, max_output_tokens: 64, stream: true }),
    baseline: 'chat, streamed',
  },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

installCleanup();
pinSelf();
const tmp = mkdtempSync(join(tmpdir(), 'infergate-bench-endpoints-'));
try {
  const sim = spawnChild({ name: 'simulator', command: process.execPath, args: ['--import', 'tsx', join(ROOT, 'scripts/bench/sim-proc.ts')], cpu: DRIVER_CPU, cwd: ROOT, stdinPipe: true });
  const simPort = Number((await waitForLine(sim, /\{"fast":(\d+),"paced":(\d+)\}/))[1]);
  const port = await freePort();
  const config = join(tmp, 'gateway.yaml');
  const backend = (kind: string) => [{ url: `http://127.0.0.1:${simPort}`, kind, model: FAST_MODEL }];
  writeFileSync(
    config,
    JSON.stringify({
      auth: 'none',
      usage: false,
      server: { listen: `127.0.0.1:${port}` },
      telemetry: { log_level: 'silent', tracing: false },
      routing: { health: { probe_interval: 0 }, scrape: { interval: 0 } },
      models: [
        { name: 'chat', backends: backend('vllm') },
        { name: 'chat-only', backends: backend('sglang') },
      ],
    }),
  );
  const gw = spawnChild({ name: 'gateway', command: process.execPath, args: ['--import', 'tsx', join(ROOT, 'src/main.ts'), '--config', config], cpu: PROXY_CPU, cwd: ROOT });
  await waitForPort(gw, port);
  const origin = `http://127.0.0.1:${port}`;
  for (const c of CASES) {
    const res = await fetch(`${origin}${c.path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: c.body });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${c.id}: HTTP ${res.status} ${text.slice(0, 200)}`);
  }
  log(`warming up, then ${rounds} rounds of ${seconds}s per case, ${connections} connections${PINNED ? ', gateway pinned to its own core' : ''}`);
  for (const c of CASES) await closedLoop({ origin, headers: {} }, c.path, c.body, connections, 1);
  const rps = new Map<string, number[]>(CASES.map((c) => [c.id, []]));
  const failed = new Map<string, number>(CASES.map((c) => [c.id, 0]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? CASES : [...CASES].reverse();
    for (const c of order) {
      const out = await closedLoop({ origin, headers: {} }, c.path, c.body, connections, seconds);
      rps.get(c.id)!.push(out.rps);
      failed.set(c.id, failed.get(c.id)! + out.failed);
    }
    log(`round ${r + 1}/${rounds} done`);
  }
  const lines = [
    '| case | requests/s (median of rounds) | vs chat, per-round ratio (median) | failed |',
    '|---|---:|---:|---:|',
    ...CASES.map((c) => {
      const mine = rps.get(c.id)!;
      const ratio = c.baseline ? median(mine.map((v, i) => v / rps.get(c.baseline!)![i]!)).toFixed(2) : '1.00';
      return `| ${c.id} | ${median(mine).toFixed(0)} | ${ratio} | ${failed.get(c.id)} |`;
    }),
  ];
  const table = lines.join('\n');
  process.stdout.write(`${table}\n`);
  const md = [
    '# Endpoint families: the cost of the Responses translation',
    '',
    `\`npm run bench:endpoints -- --rounds ${rounds} --seconds ${seconds} --connections ${connections}\` on ${new Date().toISOString().slice(0, 10)}.`,
    `The gateway process${PINNED ? ' pinned to its own core' : ''} (auth none, no usage log, no health probes or scrapes) in front of the`,
    `simulator's fast engine (a fixed ${16}-token answer); autocannon closed loop. The same conversation is asked as a chat`,
    'completion and through the Responses API over a chat-only (SGLang-kind) backend, which the gateway translates to chat',
    'and back (request body, then the Response object or the typed events). Ratios are per round, neighbouring windows.',
    `Load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' / ')} on ${CPU_COUNT} cores (shared machine: read the ratios, not the rates).`,
    '',
    table,
    '',
  ].join('\n');
  writeFileSync(join(ROOT, 'bench/results/endpoints.md'), md);
  log('wrote bench/results/endpoints.md');
} finally {
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
}
