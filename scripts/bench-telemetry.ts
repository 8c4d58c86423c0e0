/**
 * Telemetry's own CPU per request, alone: `endRequest` (metrics and the request log line, to a file as the gateway
 * writes stdout to one) and `serverTiming`, called in a loop on ready-made request contexts in a fresh process
 * pinned to one core. What bench:overhead's rows cannot isolate on a shared machine (telemetry is a few percent of a
 * request there, within that benchmark's noise).
 *
 *   npm run bench:telemetry                       this tree (bench/results/telemetry.md)
 *   npm run bench:telemetry -- --ab DIR           also DIR's src/ (another checkout), interleaved, with ratios
 *   Options: --rounds N (default 5), --n CALLS (default 300000 per measurement), --out FILE
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { GCProfiler, getHeapStatistics } from 'node:v8';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** What each measurement runs per call. */
const VARIANTS = {
  full: 'endRequest, metrics and request log (row 5 of bench:overhead), non-streamed chat',
  stream: 'endRequest, metrics and request log, streamed chat (adds TTFT and TPOT)',
  metrics: 'endRequest, metrics only (log level warn)',
  log: 'endRequest, request log only (metrics off)',
  'server-timing': 'serverTiming() alone (the response header, once per request)',
} as const;
type Variant = keyof typeof VARIANTS;

const { values: args } = parseArgs({
  options: {
    child: { type: 'string' },
    variant: { type: 'string' },
    n: { type: 'string', default: '300000' },
    rounds: { type: 'string', default: '5' },
    ab: { type: 'string' },
    out: { type: 'string' },
  },
});

if (args.child !== undefined) await child(args.child, args.variant as Variant, Number(args.n));
else main();

/** One measurement in this process: prints the CPU µs per call. */
async function child(root: string, variant: Variant, n: number): Promise<void> {
  const core = (await import(pathToFileURL(join(root, 'src/core/index.ts')).href)) as typeof import('../src/core/index.js');
  const tel = (await import(pathToFileURL(join(root, 'src/telemetry/index.ts')).href)) as typeof import('../src/telemetry/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'infergate-bench-telemetry-'));
  const fd = openSync(join(dir, 'log.jsonl'), 'w');
  const t = tel.createTelemetry({
    tracing: false,
    processMetrics: false,
    metrics: variant !== 'log',
    log: { level: variant === 'metrics' ? 'warn' : 'info', destination: fd },
  });
  t.setKnownModels(['sim-llama-8b']);
  const principal = { subject: 'bench', team: null, scopes: new Set(['*']) };
  // A ring of contexts shaped as the pipeline leaves them (ids differ, as they do).
  const ring = Array.from({ length: 1024 }, (_, i) => {
    const ctx = core.createRequestCtx(core.newRequestId(), 1000 + i, Date.now());
    Object.assign(ctx, {
      endpoint: 'chat',
      principal,
      requestedModel: 'sim-llama-8b',
      upstreamModel: 'sim-llama-8b',
      backendId: 'http://127.0.0.1:40001',
      stream: variant === 'stream',
      attempts: 1,
      usage: { promptTokens: 12 + (i % 7), completionTokens: 16, cachedTokens: 0, source: 'backend' },
      upstreamMs: 0.2 + (i % 13) * 0.0137,
      firstByteMs: variant === 'stream' ? 1000 + i + 0.31 : null,
      endMs: 1000 + i + 0.45 + (i % 17) * 0.0123,
    });
    return ctx;
  });
  let sink = 0;
  const once = (i: number): void => {
    const ctx = ring[i & 1023]!;
    if (variant === 'server-timing') sink += tel.serverTiming(ctx, ctx.endMs!).length;
    else t.endRequest(ctx, null);
  };
  for (let i = 0; i < 100_000; i++) once(i);
  // Bytes allocated: what the heap grew by between collections, summed (GCProfiler reports each one's before/after).
  const gc = new GCProfiler();
  gc.start();
  const used0 = getHeapStatistics().used_heap_size;
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) once(i);
  const c = process.cpuUsage(c0);
  const used1 = getHeapStatistics().used_heap_size;
  let allocated = 0;
  let after = used0;
  for (const e of gc.stop().statistics) {
    allocated += e.beforeGC.heapStatistics.usedHeapSize - after;
    after = e.afterGC.heapStatistics.usedHeapSize;
  }
  allocated += used1 - after;
  await t.shutdown();
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify({ us: (c.user + c.system) / n, bytes: allocated / n, sink })}\n`);
}

function measure(root: string, variant: Variant, n: number): { us: number; bytes: number } {
  const cmd = [process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), '--child', root, '--variant', variant, '--n', String(n)];
  // Pinned to the last core when taskset exists: one core, as the gateway's process in bench:overhead.
  const pinned = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  const r = pinned
    ? spawnSync('taskset', ['-c', String(cpus().length - 1), ...cmd], { cwd: ROOT, encoding: 'utf8' })
    : spawnSync(cmd[0]!, cmd.slice(1), { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${variant} in ${root} failed: ${r.stderr.slice(-600)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { us: number; bytes: number };
}

function main(): void {
  const rounds = Number(args.rounds);
  const n = Number(args.n);
  const trees = [{ name: 'this tree', root: ROOT }, ...(args.ab ? [{ name: resolve(args.ab), root: resolve(args.ab) }] : [])];
  const samples = new Map<string, { us: number; bytes: number }[]>();
  for (let r = 0; r < rounds; r++) {
    for (const variant of Object.keys(VARIANTS) as Variant[]) {
      // Alternating which tree goes first, so a slow moment on the shared machine does not always hit the same one.
      const order = r % 2 === 0 ? trees : [...trees].reverse();
      for (const tree of order) {
        const key = `${variant}\u0000${tree.name}`;
        samples.set(key, [...(samples.get(key) ?? []), measure(tree.root, variant, n)]);
      }
    }
    process.stderr.write(`[bench:telemetry] round ${r + 1}/${rounds}\n`);
  }
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const other = trees[1]?.name;
  const head =
    other !== undefined
      ? `| variant | this tree µs/call | ${other} µs/call | ratio (paired median) | this tree bytes/call | ${other} bytes/call |\n|---|---:|---:|---:|---:|---:|\n`
      : '| variant | µs/call | bytes/call |\n|---|---:|---:|\n';
  let table = head;
  for (const variant of Object.keys(VARIANTS) as Variant[]) {
    const a = samples.get(`${variant}\u0000this tree`)!;
    const us = (xs: { us: number }[]): string => med(xs.map((x) => x.us)).toFixed(2);
    const bytes = (xs: { bytes: number }[]): string => Math.round(med(xs.map((x) => x.bytes))).toLocaleString('en');
    if (other === undefined) {
      table += `| ${variant} | ${us(a)} | ${bytes(a)} |\n`;
      continue;
    }
    const b = samples.get(`${variant}\u0000${other}`)!;
    table += `| ${variant} | ${us(a)} | ${us(b)} | ${med(a.map((x, i) => x.us / b[i]!.us)).toFixed(2)}x | ${bytes(a)} | ${bytes(b)} |\n`;
  }
  const doc =
    `# Telemetry CPU per request\n\n${new Date().toISOString().replace('T', ' ').slice(0, 19)} UTC · Node ${process.version} · ${cpus()[0]?.model ?? ''} · ` +
    `one process per measurement, pinned to one core · ${n.toLocaleString('en')} calls per measurement after 100,000 of warm-up · ` +
    `median of ${rounds} interleaved rounds. Generated by \`npm run bench:telemetry${args.ab ? ' -- --ab DIR' : ''}\`.\n\n` +
    `${table}\n` +
    Object.entries(VARIANTS).map(([k, v]) => `- **${k}**: ${v}.`).join('\n') +
    '\n\nThe request log goes to a file (as the gateway\'s stdout in bench:overhead); CPU is the process\'s user + system time; bytes are the heap\'s growth between collections, summed (V8\'s GCProfiler), per call.\n';
  const out = args.out ?? join(ROOT, 'bench/results/telemetry.md');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, doc);
  process.stdout.write(`${table}\nwrote ${out}\n`);
}
