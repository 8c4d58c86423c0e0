// Usage reports at scale (issue 16): builds usage databases of 10M and 100M rows in the real schema, times the
// reports admins run (served from rollups) and a raw export, checks the sketch percentiles against exact ones, and
// A/Bs the writer's cost per row with rollups and without. Prints a table and writes bench/results/usage.md.
//   npm run bench:usage                          # 10M and 100M rows
//   npm run bench:usage -- --sizes 10m,30m       # other sizes (a 2-core VM shared with others: say so in the notes)
//   npm run bench:usage -- --quick               # 1M rows, short writer A/B (a smoke run)
//   npm run bench:usage -- --db a.db,b.db --built "…"   # databases built earlier (scripts/bench/usage-build.ts)
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { exportUsage, GROUP_KEYS, openUsageDb, PERCENTILE_RELATIVE_ERROR, queryUsage, USAGE_SCHEMA_VERSION, type UsageQuery } from '../src/usage/index.js';
import { median } from './bench/stats.js';
import { buildUsageDb, removeDb, type BuiltDb } from './bench/usage-build.js';
import { measureWriterCost, type WriterCost } from './bench/usage-writer.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10m,100m' },
    quick: { type: 'boolean', default: false },
    dir: { type: 'string' },
    repeat: { type: 'string', default: '5' },
    keep: { type: 'boolean', default: false },
    // Existing databases (comma-separated) from an earlier run (--keep) instead of building; sizes read from their rows.
    db: { type: 'string' },
    // With --db: databases of an older schema, upgraded (and the migration timed) when first opened here.
    upgrade: { type: 'boolean', default: false },
    built: { type: 'string', default: '' },
  },
});
const parseSize = (s: string) => Math.round(Number.parseFloat(s) * (/m$/i.test(s) ? 1e6 : /k$/i.test(s) ? 1e3 : 1));
const dbs = values.db ? values.db.split(',') : [];
const sizes = values.quick ? [1_000_000] : dbs.length ? dbs.map(() => 0) : values.sizes.split(',').map(parseSize);
const repeat = Number(values.repeat);
const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'infergate-bench-usage-'));
mkdirSync(dir, { recursive: true });
const log = (s: string) => process.stderr.write(`${s}\n`);
const DAY = 86_400_000;
const HOUR = 3_600_000;
const fmtMs = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const fmtN = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(n % 1e6 === 0 ? 0 : 1)}M` : n.toLocaleString('en-US'));

/** Median wall time of `repeat` runs (after one untimed run that warms the page cache and statements). */
function timed<T>(fn: () => T): { ms: number; result: T } {
  let result = fn();
  const ms: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const start = performance.now();
    result = fn();
    ms.push(performance.now() - start);
  }
  return { ms: median(ms), result };
}

interface SizeResult {
  built: BuiltDb;
  /** The schema migrations run when the database was first opened by this version (--upgrade). */
  upgrade?: { from: number; to: number; ms: number } | undefined;
  lines: { what: string; ms: number; detail: string }[];
  percentiles: { what: string; exact: number; sketch: number; error: number }[];
}

/** Nearest-rank percentiles of latency over [from, to) straight from the raw rows (SQLite sorts them once). */
function exactLatencies(db: Database.Database, fromMs: number, toMs: number, qs: readonly number[]): number[] {
  const n = db.prepare('SELECT COUNT(*) FROM usage_rows WHERE time_ms >= ? AND time_ms < ?').pluck().get(fromMs, toMs) as number;
  const ranks = qs.map((q) => Math.max(0, Math.ceil(q * n) - 1) + 1);
  const rows = db
    .prepare(
      `SELECT rn, latency_ms FROM (SELECT latency_ms, ROW_NUMBER() OVER (ORDER BY latency_ms) AS rn FROM usage_rows WHERE time_ms >= ? AND time_ms < ?)
       WHERE rn IN (${ranks.map(() => '?').join(', ')})`,
    )
    .raw()
    .all(fromMs, toMs, ...ranks) as [number, number][];
  const at = new Map(rows);
  return ranks.map((r) => at.get(r)!);
}

function benchSize(rows: number, index: number): SizeResult {
  const toMs = Date.UTC(2026, 10, 30, 12, 0, 0);
  const reused = dbs[index];
  const path = reused ?? join(dir, `usage-${fmtN(rows)}.db`);
  let built: BuiltDb;
  let upgrade: SizeResult['upgrade'];
  if (reused && values.upgrade) {
    const version = () => {
      const v = new Database(reused, { readonly: true });
      const n = v.prepare('SELECT version FROM usage_schema').pluck().get() as number;
      v.close();
      return n;
    };
    const from = version();
    log(`upgrading ${reused} from schema v${from}`);
    const start = performance.now();
    openUsageDb(reused).close();
    upgrade = { from, to: version(), ms: performance.now() - start };
    log(`  upgraded to v${upgrade.to} in ${(upgrade.ms / 1000).toFixed(0)} s`);
  }
  if (reused) {
    const d = openUsageDb(reused, { readonly: true });
    const n = d.prepare('SELECT COUNT(*) FROM usage_rows').pluck().get() as number;
    const rollupRows = d.prepare('SELECT COUNT(*) FROM usage_rollups').pluck().get() as number;
    d.close();
    built = { path, rows: n, fromMs: toMs - 30 * DAY, toMs, rawSeconds: Number.NaN, rollupSeconds: Number.NaN, bytes: statSync(path).size, rollupRows };
  } else {
    log(`building ${fmtN(rows)} rows in ${path}`);
    built = buildUsageDb(path, rows, toMs, 30, log);
  }
  log(`  built: raw ${built.rawSeconds.toFixed(0)} s, rollups ${built.rollupSeconds.toFixed(0)} s, ${(built.bytes / 2 ** 30).toFixed(2)} GiB`);
  const db = openUsageDb(path, { readonly: true });
  // Reports as the admin API asks for them: `from=30d` is "now − 30 days" to the millisecond, so edges are not aligned.
  const now = toMs - 1234;
  const q = (groupBy: UsageQuery['groupBy'], fromMs: number, extra: Partial<UsageQuery> = {}) => () => queryUsage(db, { fromMs, toMs: now, groupBy, ...extra });
  const lines: SizeResult['lines'] = [];
  const add = (what: string, fn: () => ReturnType<typeof queryUsage>) => {
    const { ms, result } = timed(fn);
    lines.push({ what, ms, detail: `${result.rows.length} row(s), ${result.rows.reduce((n, r) => n + r.requests, 0).toLocaleString('en-US')} requests` });
    log(`  ${what}: ${fmtMs(ms)} ms`);
  };
  add('30-day report, not grouped', q([], now - 30 * DAY));
  for (const k of GROUP_KEYS) add(`30-day report by ${k}`, q([k], now - 30 * DAY));
  add('30-day report by model and day', q(['model', 'day'], now - 30 * DAY));
  add('30-day report by team and model', q(['team', 'model'], now - 30 * DAY));
  add('30-day report by backend and status class', q(['backend', 'status_class'], now - 30 * DAY));
  add('30-day report by subject and model', q(['subject', 'model'], now - 30 * DAY));
  add("one subject's 30-day window", q([], now - 30 * DAY, { subject: 'user-042' }));
  add("one key's 30-day window by model", q(['model'], now - 30 * DAY, { key: 'key_0085' }));
  add('last hour, not grouped', q([], now - HOUR));
  add('last hour by subject', q(['subject'], now - HOUR));
  add('last hour by backend', q(['backend'], now - HOUR));
  // Outside the targets: a subject by backend reads the full cuboid (a row per combination of everything per day).
  add('30-day report by subject and backend (full cuboid)', q(['subject', 'backend'], now - 30 * DAY));

  // A raw export of one day, streamed: time, bytes, and the heap it took.
  const dayFrom = toMs - 2 * DAY;
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  let heapMax = heap0;
  const exportStart = performance.now();
  let bytes = 0;
  let chunks = 0;
  for (const chunk of exportUsage(path, { fromMs: dayFrom, toMs: dayFrom + DAY, format: 'csv' })) {
    bytes += chunk.length;
    if (++chunks % 64 === 0) heapMax = Math.max(heapMax, process.memoryUsage().heapUsed);
  }
  const exportMs = performance.now() - exportStart;
  lines.push({ what: 'raw export of one day (CSV, streamed)', ms: exportMs, detail: `${(bytes / 2 ** 20).toFixed(0)} MiB in ${chunks} chunks, heap +${((heapMax - heap0) / 2 ** 20).toFixed(0)} MiB at most` });
  log(`  export: ${fmtMs(exportMs)} ms, ${(bytes / 2 ** 20).toFixed(0)} MiB`);

  // Sketch percentiles against exact nearest-rank ones, over one day and over the 30 days.
  const raw = new Database(path, { readonly: true });
  const percentiles: SizeResult['percentiles'] = [];
  for (const [what, fromMs, toMsQ] of [['one day', dayFrom, dayFrom + DAY], ['30 days', toMs - 30 * DAY, toMs]] as const) {
    const r = queryUsage(db, { fromMs, toMs: toMsQ, groupBy: [] }).rows[0]!;
    const exacts = exactLatencies(raw, fromMs, toMsQ, [0.5, 0.99]);
    for (const [i, [p, got]] of ([[0.5, r.p50_latency_ms], [0.99, r.p99_latency_ms]] as const).entries()) {
      const exact = exacts[i]!;
      percentiles.push({ what: `${what} p${p * 100} latency`, exact, sketch: got!, error: Math.abs(got! - exact) / exact });
    }
  }
  raw.close();
  db.close();
  if (!values.keep && !reused) removeDb(path);
  return { built, upgrade, lines, percentiles };
}

const loadAtStart = loadavg()[0]!;
const results = sizes.map((rows, i) => benchSize(rows, i));
log('writer A/B');
const writer: WriterCost = await measureWriterCost(dir, values.quick ? { rounds: 4, rowsPerRound: 25_600, rate: 1000, warmRows: 25_600 } : { rounds: 12, rowsPerRound: 51_200, rate: 1000, warmRows: 51_200 });
if (!values.dir) rmSync(dir, { recursive: true, force: true });

const cpu = cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
const out: string[] = [
  '# Usage reports at scale (issue 16)',
  '',
  `${new Date().toISOString().replace('T', ' ').slice(0, 19)} UTC · Node ${process.version} · ${cpu} (${cpus().length} cores, shared with other engineers; load average ${loadAtStart.toFixed(0)} at the start, ${loadavg()[0]!.toFixed(0)} at the end) · generated by \`npm run bench:usage${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\``,
  '',
  `Databases in the real schema (v${USAGE_SCHEMA_VERSION}), built as scripts/bench/usage-build.ts says: raw rows generated inside SQLite by a recursive CTE (the`,
  'values the writer would write: usage_names ids, statuses, tokens, latencies), 200 subjects / 10 teams / 400 keys / 4 models on 8',
  'backends, spread evenly over 30 days; then rollups built in SQL (scripts/bench/usage-rollup-sql.ts: GROUP BY with the writer\'s sketch',
  'mapping and encoding as aggregates; test/usage/rollup-sql.test.ts checks they equal the writer\'s own catch-up and compaction bucket by',
  `bucket, sketches included). Reports are queryUsage() on a read-only connection (what \`npm run usage\` and /admin/usage run), each the median`,
  `of ${repeat} runs after one warm-up; ranges end "now" to the millisecond, so both edges are unaligned (a 30-day range starts where minute`,
  'rows are pruned, so it widens to the hour, as the report says in from/to).',
  '',
];
for (const r of results) {
  const b = r.built;
  out.push(
    `## ${fmtN(b.rows)} rows`,
    '',
    Number.isFinite(b.rawSeconds)
      ? `Built in ${b.rawSeconds.toFixed(0)} s (raw rows) + ${b.rollupSeconds.toFixed(0)} s (rollups: ${b.rollupRows.toLocaleString('en-US')} rows) · file ${(b.bytes / 2 ** 30).toFixed(2)} GiB`
      : `The database of an earlier run, reused (${b.rollupRows.toLocaleString('en-US')} rollup rows; ${values.built || 'build times in that run\'s output'}) · file ${(b.bytes / 2 ** 30).toFixed(2)} GiB`,
    '',
    '| query | ms | result |',
    '|---|---:|---|',
    ...(r.upgrade
      ? [`| upgrade from schema v${r.upgrade.from} to v${r.upgrade.to} at first open (migrations, one transaction) | ${fmtMs(r.upgrade.ms)} | ${(r.upgrade.ms / 1000).toFixed(0)} s before the gateway serves; ${b.rollupRows.toLocaleString('en-US')} rollup rows after |`]
      : []),
    ...r.lines.map((l) => `| ${l.what} | ${fmtMs(l.ms)} | ${l.detail} |`),
    '',
    `| percentile (DDSketch, stated relative error ${PERCENTILE_RELATIVE_ERROR * 100}%) | exact ms | sketch ms | error |`,
    '|---|---:|---:|---:|',
    ...r.percentiles.map((p) => `| ${p.what} | ${p.exact.toFixed(1)} | ${p.sketch.toFixed(1)} | ${(p.error * 100).toFixed(2)}% |`),
    '',
  );
}
const ratio = writer.loop.with / writer.loop.without;
const cpuRatio = writer.cpu.with / writer.cpu.without;
out.push(
  '## Writer cost per row (one-core writer)',
  '',
  `createUsageWriter({ thread: false }) as a one-core gateway runs it (batches of 256 committed on the event loop; rollups kept by the rollup`,
  `thread from the committed rows) against the same writer keeping no rollups (\`maintenance: false\`: raw rows only, the writer before issue`,
  `16); alternating rounds of ${writer.rowsPerRound.toLocaleString('en-US')} rows at ${writer.rate} rows/s of simulated time, median of ${writer.rounds} rounds each. Event loop: the wall time of`,
  'recording and committing the rows on the main thread. Process CPU: every thread (the rollup thread folding and writing rollups, the',
  'checkpoint thread) until the rollups have caught up with the round but for the open fold. On this 2-core machine the rollup thread runs',
  'beside the event loop; on one core it takes turns with it (its CPU is in the process CPU column). With more than one core the gateway',
  'writes from its writer thread and the event loop pays the same either way.',
  '',
  '| writer | event loop µs/row | process CPU µs/row | event loop per round |',
  '|---|---:|---:|---|',
  `| raw rows only | ${writer.loop.without.toFixed(2)} | ${writer.cpu.without.toFixed(2)} | ${writer.perRound.without.map((v) => v.toFixed(2)).join(', ')} |`,
  `| raw rows + rollups | ${writer.loop.with.toFixed(2)} | ${writer.cpu.with.toFixed(2)} | ${writer.perRound.with.map((v) => v.toFixed(2)).join(', ')} |`,
  '',
  '## Targets',
  '',
  '| target | measured | verdict |',
  '|---|---|---|',
);
for (const r of results) {
  const limit = r.built.rows >= 100e6 ? 300 : r.built.rows >= 10e6 ? 100 : null;
  // Every report the CLI and /admin/usage offer on one dimension, the pairs above and the windows: all but the full cuboid's.
  const timed = r.lines.filter((l) => !l.what.includes('full cuboid') && !l.what.startsWith('raw export'));
  const worst = timed.reduce((a, b) => (b.ms > a.ms ? b : a));
  if (limit !== null) {
    const over = timed.filter((l) => l.ms >= limit);
    out.push(
      `| reports < ${limit} ms at ${fmtN(r.built.rows)} rows (${timed.length} above, full cuboid aside) | worst ${fmtMs(worst.ms)} ms (${worst.what})${over.length ? `; over: ${over.map((l) => `${l.what} ${fmtMs(l.ms)} ms`).join(', ')}` : ''} | ${over.length === 0 ? 'met' : '**missed**'} |`,
    );
  }
  const worstP = Math.max(...r.percentiles.map((p) => p.error));
  out.push(`| percentiles within ${PERCENTILE_RELATIVE_ERROR * 100}% of exact at ${fmtN(r.built.rows)} rows | worst ${(worstP * 100).toFixed(2)}% | ${worstP <= PERCENTILE_RELATIVE_ERROR ? 'met' : '**missed**'} |`);
}
out.push(
  `| writer's event-loop cost within 15% of raw-only | ${writer.loop.with.toFixed(2)} vs ${writer.loop.without.toFixed(2)} µs/row (${((ratio - 1) * 100).toFixed(0)}%) | ${ratio <= 1.15 ? 'met' : '**missed**'} |`,
  `| (for the record: process CPU, all threads) | ${writer.cpu.with.toFixed(2)} vs ${writer.cpu.without.toFixed(2)} µs/row (${((cpuRatio - 1) * 100).toFixed(0)}%) | not a target |`,
  '',
);
const text = out.join('\n');
process.stdout.write(`${text}\n`);
if (!values.quick) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/usage.md', text);
} else writeFileSync('bench/results/usage-quick.md', text);
