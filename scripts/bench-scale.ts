/**
 * `npm run bench:scale` (`-- --quick` for a shorter run, `-- --only exactness` or `-- --only scale` for that section alone): exactness across processes, the cost of shared state, the
 * wait for a lease, and throughput per core with 1 and 2 workers. Prints the tables and writes bench/results/scale.md.
 * Bounded: each phase runs a few seconds; the machine is shared, so read the ratios.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { replaceScaleSection, runCost, runScale, scaleSection } from './bench/scale-cost.js';
import { exactnessSection, replaceExactnessSection, runExactness } from './bench/scale-exactness.js';
import { runLeaseWait } from './bench/scale-lease.js';

// `--only exactness`: that section alone, put in place of its old table in the results file.
const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, out: { type: 'string' }, only: { type: 'string' }, rate: { type: 'string' } } });
const quick = values.quick!;
const log = (s: string) => process.stderr.write(`${s}\n`);
const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '–');
const table = (head: string[], rows: (string | number)[][]) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

async function exactnessOnly(): Promise<void> {
  const started = new Date();
  const section = exactnessSection(await runExactness(log));
  process.stdout.write(`${section}\n`);
  const out = values.out ?? resolve(import.meta.dirname, '../bench/results/scale.md');
  const old = await readFile(out, 'utf8').catch(() => `# bench:scale\n`);
  await mkdir(resolve(out, '..'), { recursive: true });
  await writeFile(out, replaceExactnessSection(old, section, started.toISOString()));
  log(`exactness section written to ${out}`);
}

/** Throughput per core with 1 and 2 workers (`--rate N`: offered req/s per worker, default 2,500). */
const scaleOptions = () => ({ seconds: quick ? 2 : 3, connections: 64, perWorkerRate: Number(values.rate ?? 2500), rounds: quick ? 2 : 5 });

async function scaleOnly(): Promise<void> {
  const started = new Date();
  const section = scaleSection(await runScale(log, scaleOptions()));
  process.stdout.write(`${section}\n`);
  const out = values.out ?? resolve(import.meta.dirname, '../bench/results/scale.md');
  const old = await readFile(out, 'utf8').catch(() => `# bench:scale\n`);
  await mkdir(resolve(out, '..'), { recursive: true });
  await writeFile(out, replaceScaleSection(old, section, started.toISOString()));
  log(`throughput section written to ${out}`);
}

async function main(): Promise<void> {
  if (values.only !== undefined) {
    if (values.only === 'scale') return scaleOnly();
    if (values.only !== 'exactness') throw new Error(`--only takes "exactness" or "scale", not "${values.only}"`);
    return exactnessOnly();
  }
  const started = new Date();
  const lease = await runLeaseWait(log, quick ? 2 : 3);
  const exact = await runExactness(log);
  const cost = await runCost(log, { rate: 400, seconds: quick ? 2 : 3, rounds: quick ? 2 : 3 });
  const scale = await runScale(log, scaleOptions());

  const local = cost[0]!;
  const shared = cost[1]!;
  const md = [
    `# bench:scale — ${started.toISOString()}${quick ? ' (quick)' : ''}`,
    '',
    `Machine: ${availableParallelism()} CPUs, shared with other engineers' work; load generator, simulated backend and gateway on the same cores. Read ratios.`,
    '',
    exactnessSection(exact),
    '',
    '## Cost of shared state (one gateway process, full stack: JWT, rpm/tpm/concurrency limits, a daily quota, usage log)',
    '',
    table(
      ['setup', 'rate (req/s)', 'requests', 'gateway CPU per request (µs)', 'p99 latency (ms)'],
      cost.map((r) => [r.setup, r.rate, r.sent, f(r.usPerRequest), f(r.p99Ms, 2)]),
    ),
    '',
    `state.redis / in-process CPU per request: **${f(shared.usPerRequest / local.usPerRequest, 3)}x** (target ≤ 1.10x).`,
    '',
    '## Waiting for a lease (3 lease clients on one Redis, ~1 reservation per ms each, settled 5 ms later)',
    '',
    table(
      ['scenario', 'reservations', 'waited for a lease', 'wait p50 (ms)', 'wait p99 (ms)', 'refused'],
      lease.map((r) => [r.scenario, r.reservations, `${f(r.waitedPct, 2)}%`, f(r.waitP50Ms, 2), f(r.waitP99Ms, 2), `${f(r.refusedPct, 1)}%`]),
    ),
    '',
    scaleSection(scale),
    '',
  ].join('\n');
  process.stdout.write(md);
  const out = values.out ?? resolve(import.meta.dirname, '../bench/results/scale.md');
  await mkdir(resolve(out, '..'), { recursive: true });
  await writeFile(out, md);
  log(`written to ${out}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:scale failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
