// Usage totals from the SQLite usage log's rollups, as a table (or CSV); or its raw rows, streamed.
//   npm run -s usage -- --since 24h --by team,model [--subject alice | --key key_…] [--db ./data/usage.db] [--csv]
//   npm run -s usage -- --from 2024-05-01 --to 2024-06-01 --by subject,day
//   npm run -s usage -- export --since 1d --format csv > day.csv
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseDuration, printable } from '../src/core/index.js';
import { EXPORT_FORMATS, exportUsage, GROUP_KEYS, openUsageDb, parseGroupBy, PERCENTILE_RELATIVE_ERROR, queryUsage, toCsv, type ExportFormat, type GroupKey, type UsageTotals } from '../src/usage/index.js';

const USAGE = `usage: npm run -s usage -- [--since 24h | --from <date> [--to <date>]] [--by ${GROUP_KEYS.join(',')}] [--subject NAME] [--key ID] [--db ./data/usage.db] [--csv]
       npm run -s usage -- export [--since 24h | --from <date> [--to <date>]] [--format ${EXPORT_FORMATS.join('|')}] [--db ./data/usage.db]`;

/** `usage`: false for failures that are not about the arguments (the usage text would only bury the reason). */
function fail(message: string, usage = true): never {
  process.stderr.write(usage ? `${message}\n${USAGE}\n` : `${message}\n`);
  process.exit(2);
}

// A reader that stops early (`| head`) is not an error: stop writing, quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  fail(`cannot write the output: ${err.message}`, false);
});

function noDatabase(path: string): never {
  fail(`no usage log at ${path}: start the gateway first (npm start), or name one with --db FILE`, false);
}

/** The latest time a JavaScript Date can hold (ECMA-262 §21.4.1.1): past it, the range line cannot be printed. */
const MAX_TIME_MS = 8.64e15;

function parseDate(s: string, flag: string): number {
  // Digits alone are epoch ms, as the admin API reads them: Date.parse would take a short run (`0`) for a year (2000).
  const ms = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
  if (!(Math.abs(ms) <= MAX_TIME_MS)) fail(`${flag}: not a date: ${printable(s)} (use an ISO 8601 time or epoch milliseconds)`);
  return ms;
}

/**
 * Names are shown through `printable`: subjects and teams come from tokens and admin input, so control characters (a
 * newline breaking the table, an ESC sequence a terminal would obey) are shown escaped, never written raw.
 */
function table(rows: readonly UsageTotals[], groupBy: readonly GroupKey[]): string {
  const cols: [string, (r: UsageTotals) => string][] = [
    ...groupBy.map((k): [string, (r: UsageTotals) => string] => [k, (r) => { const v = r[k]; return v === null || v === undefined ? '-' : printable(v); }]),
    ['requests', (r) => String(r.requests)],
    ['errors', (r) => String(r.errors)],
    ['prompt', (r) => String(r.prompt_tokens)],
    ['completion', (r) => String(r.completion_tokens)],
    ['cached', (r) => String(r.cached_tokens)],
    ['p50 ms', (r) => (r.p50_latency_ms === null ? '-' : r.p50_latency_ms.toFixed(0))],
    ['p95 ms', (r) => (r.p95_latency_ms === null ? '-' : r.p95_latency_ms.toFixed(0))],
    ['p99 ms', (r) => (r.p99_latency_ms === null ? '-' : r.p99_latency_ms.toFixed(0))],
    ['ttft p50', (r) => (r.p50_ttft_ms === null ? '-' : r.p50_ttft_ms.toFixed(0))],
  ];
  const cells = rows.map((r) => cols.map(([, f]) => f(r)));
  const widths = cols.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const numeric = (i: number) => i >= groupBy.length;
  const line = (c: readonly string[]) => c.map((v, i) => (numeric(i) ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ');
  return [line(cols.map(([h]) => h)), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

const { values, positionals } = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        subject: { type: 'string' },
        key: { type: 'string' },
        format: { type: 'string', default: 'csv' },
        since: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        by: { type: 'string', default: '' },
        db: { type: 'string', default: './data/usage.db' },
        csv: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
  } catch (err) {
    return fail((err as Error).message);
  }
})();
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const now = Date.now();
const toMs = values.to ? parseDate(values.to, '--to') : now;
let fromMs: number;
if (values.from) fromMs = parseDate(values.from, '--from');
else {
  const since = parseDuration(values.since ?? '24h');
  if (!Number.isFinite(since) || since <= 0) fail(`--since: expected a duration like 24h or 30m, got ${printable(values.since ?? '')}`);
  fromMs = toMs - since;
}
// Swapped bounds are a mistake to report, not an empty range to print; the arguments' syntax was fine, so no usage text.
if (fromMs > toMs) fail(`--from (${new Date(fromMs).toISOString()}) is after --to (${new Date(toMs).toISOString()})${values.to ? '' : ', which defaults to now'}`, false);
let groupBy: GroupKey[];
try {
  groupBy = parseGroupBy(values.by);
} catch (err) {
  fail((err as Error).message);
}

if (positionals[0] === 'export') {
  const format = values.format as ExportFormat;
  if (!EXPORT_FORMATS.includes(format)) fail(`--format: ${format}; use ${EXPORT_FORMATS.join(' or ')}`);
  if (!existsSync(values.db)) noDatabase(values.db);
  try {
    // Chunk by chunk, waiting for stdout to drain: a year of rows never sits in memory.
    for (const chunk of exportUsage(values.db, { fromMs, toMs, format })) {
      if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') process.exit(0);
    fail(`export failed: ${(err as Error).message}`, false);
  }
} else {
  if (positionals.length > 0) fail(`unknown command: ${positionals[0]}`);
  if (!existsSync(values.db)) noDatabase(values.db);
  let db;
  try {
    db = openUsageDb(values.db, { readonly: true });
  } catch (err) {
    fail(`cannot open ${values.db}: ${(err as Error).message}`, false);
  }
  try {
    const report = queryUsage(db, { fromMs, toMs, groupBy, subject: values.subject, key: values.key });
    const rows = report.rows;
    if (values.csv) process.stdout.write(toCsv(rows, groupBy));
    else {
      process.stdout.write(`${new Date(report.fromMs).toISOString()} .. ${new Date(report.toMs).toISOString()}  (percentiles within ${PERCENTILE_RELATIVE_ERROR * 100}%)\n`);
      process.stdout.write(rows.length ? `${table(rows, groupBy)}\n` : 'no requests in this range\n');
    }
  } catch (err) {
    fail(`query failed: ${(err as Error).message}`, false);
  } finally {
    db.close();
  }
}
