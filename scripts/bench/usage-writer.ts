/**
 * The usage writer's cost per row on the event loop, with rollups and without (sqlite-sink.ts `rollups: false`: raw
 * rows only, as before issue 16), for bench:usage. This is the path a one-core gateway runs between requests; with a
 * writer thread the event loop only copies rows to the thread either way.
 *
 * Rows come as the gateway records them (UsageRow objects through pushRow, batches of 256), with the bench
 * database's mix of names and a clock advancing `rate` rows per second, so rollups are flushed every 60 s of traffic
 * as they would be. The two variants write to their own files in alternating rounds (A B A B …), which spreads the
 * machine's drift over both; the figure is the median of the rounds' µs per row.
 */
import { join } from 'node:path';
import { openUsageDb, type UsageRow } from '../../src/usage/index.js';
import { createSqliteSink, pushRow } from '../../src/usage/sqlite-sink.js';
import { median } from './stats.js';
import { removeDb, SUBJECTS } from './usage-build.js';

const BATCH = 256;

function rowAt(n: number, t0: number, rate: number): UsageRow {
  const h = Number((BigInt(n) * 2654435761n) % 4294967296n);
  const s = h % SUBJECTS;
  const m = (h >> 12) % 5 === 0 ? (h >> 14) % 4 : s % 4;
  const r = (h >> 22) % 100;
  const e = [2, 1][(h >> 18) % 10] ?? 0;
  const lat = (h >> 3) % 1000;
  const tt = (h >> 9) % 400;
  return {
    id: `req_${n}`,
    timeMs: t0 + Math.floor((n * 1000) / rate),
    subject: `user-${String(s).padStart(3, '0')}`,
    team: `team-${s % 10}`,
    keyId: `key_${String(s * 2 + ((h >> 8) % 2)).padStart(4, '0')}`,
    requestedModel: ['llama-3.1-8b', 'llama-3.1-70b', 'qwen2.5-32b', 'bge-m3'][m]!,
    upstreamModel: ['meta-llama/Llama-3.1-8B-Instruct', 'meta-llama/Llama-3.1-70B-Instruct', 'Qwen/Qwen2.5-32B-Instruct', 'BAAI/bge-m3'][m]!,
    backend: `http://vllm-${m * 2 + ((h >> 16) % 2)}:8000`,
    endpoint: ['chat', 'completions', 'embeddings'][e]!,
    stream: e === 0 && (h >> 20) % 2 === 1,
    status: r === 0 ? 502 : r === 1 ? 429 : r === 2 ? 400 : 200,
    errorCode: r === 0 ? 'upstream_error' : r === 1 ? 'rate_limit_exceeded' : r === 2 ? 'invalid_request' : null,
    promptTokens: r < 3 ? 0 : 20 + ((h >> 4) % 3000),
    completionTokens: r < 3 || e === 2 ? 0 : (h >> 6) % 800,
    cachedTokens: r < 3 ? 0 : (h >> 10) % 64,
    tokenSource: r < 3 ? null : e === 2 ? 'counted' : 'backend',
    ttftMs: r < 3 || e === 2 ? null : 15 + (tt * tt) / 400,
    latencyMs: 20 + (lat * lat) / 100,
  };
}

export interface WriterCost {
  withRollups: number;
  without: number;
  rounds: number;
  rowsPerRound: number;
  rate: number;
  perRound: { with: number[]; without: number[] };
}

export function measureWriterCost(dir: string, opts: { rounds: number; rowsPerRound: number; rate: number; warmRows: number }): WriterCost {
  const t0 = Date.UTC(2026, 0, 1);
  const variants = [true, false].map((rollups) => {
    const path = join(dir, `writer-${rollups ? 'rollups' : 'raw'}.db`);
    removeDb(path);
    const db = openUsageDb(path);
    // As on a one-core gateway: the connection never checkpoints (checkpointer.ts does it on a thread); here it is
    // done between rounds, untimed.
    db.pragma('wal_autocheckpoint = 0');
    let clock = t0;
    const sink = createSqliteSink(db, { rollups, now: () => clock });
    return { rollups, path, db, sink, setClock: (t: number) => (clock = t), us: [] as number[] };
  });
  let n = 0;
  const batches = (count: number) => {
    const out: { values: unknown[]; last: number }[] = [];
    for (let b = 0; b < count / BATCH; b++) {
      const values: unknown[] = [];
      let last = 0;
      for (let i = 0; i < BATCH; i++) {
        const r = rowAt(++n, t0, opts.rate);
        pushRow(values, r);
        last = r.timeMs;
      }
      out.push({ values, last });
    }
    return out;
  };
  const run = (v: (typeof variants)[number], work: { values: unknown[]; last: number }[]) => {
    const start = performance.now();
    for (const b of work) {
      v.setClock(b.last);
      v.sink.write(b.values);
    }
    return ((performance.now() - start) * 1000) / (work.length * BATCH);
  };
  // Warm both (JIT, page cache, name ids), on the same rows.
  const warm = batches(opts.warmRows);
  for (const v of variants) {
    run(v, warm);
    v.db.pragma('wal_checkpoint(TRUNCATE)');
  }
  for (let round = 0; round < opts.rounds; round++) {
    // The same rows for both variants of a round; the order alternates.
    const work = batches(opts.rowsPerRound);
    const order = round % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) v.us.push(run(v, work));
    for (const v of variants) v.db.pragma('wal_checkpoint(TRUNCATE)');
  }
  for (const v of variants) {
    v.sink.close();
    v.db.close();
    removeDb(v.path);
  }
  return {
    withRollups: median(variants[0]!.us),
    without: median(variants[1]!.us),
    rounds: opts.rounds,
    rowsPerRound: opts.rowsPerRound,
    rate: opts.rate,
    perRound: { with: variants[0]!.us, without: variants[1]!.us },
  };
}
