// Usage across replicas (issue 12): what a replica pays per row to share its usage log. Each replica writes its own
// rows once (the writer's batch insert, rollups folded) and every peer's row once more (INSERT OR IGNORE keyed by
// origin, folded only when inserted), and encodes its own rows for the stream once. Measured on the real sink and
// schema in a temp SQLite file, CPU time of this process. Prints a table and writes bench/results/usage-share.md.
//   npm run bench:usage:share                 # 200k rows per step
//   npm run bench:usage:share -- --rows 50000 # a smoke run
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLocalRowReader, openUsageDb, PEER_VALUES_PER_ROW } from '../src/usage/index.js';
import { createSqliteSink, pushRow, VALUES_PER_ROW } from '../src/usage/sqlite-sink.js';
import type { UsageRow } from '../src/usage/index.js';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '200000' } } });
const ROWS = Number(values.rows);
const BATCH = 500;
const dir = mkdtempSync(join(tmpdir(), 'infergate-bench-usage-share-'));
const log = (s: string) => process.stderr.write(`${s}\n`);

const SUBJECTS = Array.from({ length: 200 }, (_, i) => `user-${i}`);
const MODELS = ['llama-3.1-8b', 'llama-3.1-70b', 'qwen-2.5-32b', 'mistral-7b'];
function row(i: number, t0: number): UsageRow {
  return {
    id: `req_4f9a1c2b7d3e${i.toString(36).padStart(7, '0')}`, timeMs: t0 + i * 10, subject: SUBJECTS[i % SUBJECTS.length]!, team: `team-${i % 12}`,
    keyId: i % 3 === 0 ? `k${i % 50}` : null, requestedModel: MODELS[i % 4]!, upstreamModel: MODELS[i % 4]!, backend: `http://vllm-${i % 8}.vllm:8000`,
    endpoint: 'chat', stream: i % 2 === 0, status: i % 50 === 0 ? 429 : 200, errorCode: i % 50 === 0 ? 'rate_limited' : null,
    promptTokens: 100 + (i % 900), completionTokens: 20 + (i % 300), cachedTokens: i % 64, tokenSource: 'backend', ttftMs: 30 + (i % 200), latencyMs: 200 + (i % 3000),
  };
}
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const t0 = Date.now() - 3_600_000;
// Replica A: its own rows, written as the writer writes them.
const a = openUsageDb(join(dir, 'a.db'));
const sinkA = createSqliteSink(a);
let c = cpuMs();
for (let i = 0; i < ROWS; i += BATCH) {
  const flat: unknown[] = [];
  for (let j = i; j < Math.min(ROWS, i + BATCH); j++) pushRow(flat, row(j, t0));
  sinkA.write(flat);
}
const ownWrite = cpuMs() - c;
log(`own rows written: ${ownWrite.toFixed(0)} ms CPU`);

// Shipping: read back after the cursor and encode, as the shipper does.
const reader = createLocalRowReader(a);
const payloads: string[] = [];
let bytes = 0;
c = cpuMs();
for (let after = 0; ; ) {
  const rows = reader.after(after, BATCH);
  if (rows.length === 0) break;
  const p = JSON.stringify(rows);
  payloads.push(p);
  bytes += p.length;
  after = rows[rows.length - 1]![0] as number;
}
const encode = cpuMs() - c;
log(`encoded: ${encode.toFixed(0)} ms CPU, ${(bytes / ROWS).toFixed(0)} bytes a row`);

// Replica B: decodes and ingests A's rows (all new), then the same again (all duplicates: a re-ship).
const b = openUsageDb(join(dir, 'b.db'));
const sinkB = createSqliteSink(b);
function ingestAll(): { ms: number; inserted: number } {
  let inserted = 0;
  const start = cpuMs();
  for (const p of payloads) {
    const values: unknown[] = [];
    for (const r of JSON.parse(p) as unknown[][]) {
      for (let i = 1; i < r.length; i++) values.push(r[i]);
      values.push('replica-a', r[0]);
    }
    if (values.length % PEER_VALUES_PER_ROW !== 0 || PEER_VALUES_PER_ROW !== VALUES_PER_ROW + 2) throw new Error('layout');
    inserted += sinkB.ingest(values, { consumed: '1-0' });
  }
  return { ms: cpuMs() - start, inserted };
}
const fresh = ingestAll();
const again = ingestAll();
log(`ingested: ${fresh.ms.toFixed(0)} ms CPU (${fresh.inserted} new), again ${again.ms.toFixed(0)} ms (${again.inserted} new)`);
sinkA.close();
sinkB.close();
const reportA = a.prepare('SELECT SUM(requests) FROM usage_rollups WHERE cuboid = 255').pluck().get();
const reportB = b.prepare('SELECT SUM(requests) FROM usage_rollups WHERE cuboid = 255').pluck().get();
a.close();
b.close();
rmSync(dir, { recursive: true, force: true });
if (fresh.inserted !== ROWS || again.inserted !== 0 || reportA !== ROWS || reportB !== ROWS) throw new Error(`counts differ: ${fresh.inserted} ${again.inserted} ${String(reportA)} ${String(reportB)}`);

const us = (ms: number) => ((ms * 1000) / ROWS).toFixed(2);
const rowsOut = [
  ['own row written (batch insert, rollups folded)', us(ownWrite), '1.00'],
  ['own row read back and encoded for the stream', us(encode), (encode / ownWrite).toFixed(2)],
  ['peer row decoded and inserted (new)', us(fresh.ms), (fresh.ms / ownWrite).toFixed(2)],
  ['peer row delivered again (ignored)', us(again.ms), (again.ms / ownWrite).toFixed(2)],
];
const load = loadavg()[0]!.toFixed(1);
const table = [
  `| step | CPU µs per row | × own write |`,
  `|---|---:|---:|`,
  ...rowsOut.map((r) => `| ${r.join(' | ')} |`),
].join('\n');
const perReplica = (n: number) => ((ownWrite + encode + (n - 1) * fresh.ms) / ownWrite).toFixed(2);
const text = `# Usage across replicas: cost per row

\`npm run bench:usage:share -- --rows ${ROWS}\` on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), load average ${load} (a shared machine: read the ratios).
Rows in batches of ${BATCH}, the real sink and schema; every count checked (rollups hold each row once on both sides).

${table}

Stream payload: ${(bytes / ROWS).toFixed(0)} bytes a row (JSON). With every replica serving the same traffic, a replica's usage-log CPU
relative to recording only its own rows (own write + encode + one peer insert per other replica): ${perReplica(2)}× with 2
replicas, ${perReplica(3)}× with 3, ${perReplica(5)}× with 5.
`;
process.stdout.write(`${table}\n\n${(bytes / ROWS).toFixed(0)} bytes a row; per replica vs. alone: 2 → ${perReplica(2)}×, 3 → ${perReplica(3)}×, 5 → ${perReplica(5)}×\n`);
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/usage-share.md', text);
