/**
 * The usage writer's cost per row on the event loop, with rollups and without, for bench:usage: the one-core
 * writer (createUsageWriter with `thread: false`: batches committed on the event loop) as the gateway runs it, against
 * the same writer with no rollups kept (`maintenance: false`: raw rows only, what a row cost before issue 16).
 *
 * Rows come as the gateway records them (UsageRow objects, batches of 256), with the bench database's mix of names,
 * `rate` rows per second of simulated time. Per round and variant: the event loop's time in record() and the commits
 * (wall time of that synchronous loop), and the process's CPU time (every thread: the rollup thread folding and
 * writing rollups, the checkpoint thread) until the rollups have caught up with the round's rows. The two variants
 * write to their own files in alternating rounds (A B A B …), which spreads the machine's drift over both; the
 * figures are the medians of the rounds.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createUsageWriter, type UsageRow, type UsageWriter } from '../../src/usage/index.js';
import { median } from './stats.js';
import { removeDb, SUBJECTS } from './usage-build.js';

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
  /** Medians: event-loop µs per row, and process CPU µs per row (all threads), with rollups and without. */
  loop: { with: number; without: number };
  cpu: { with: number; without: number };
  rounds: number;
  rowsPerRound: number;
  rate: number;
  perRound: { with: number[]; without: number[] };
}

const cpuUs = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

export async function measureWriterCost(dir: string, opts: { rounds: number; rowsPerRound: number; rate: number; warmRows: number }): Promise<WriterCost> {
  const t0 = Date.now() - 3_600_000;
  const variants = [true, false].map((rollups) => {
    const path = join(dir, `writer-${rollups ? 'rollups' : 'raw'}.db`);
    removeDb(path);
    const w: UsageWriter = createUsageWriter({ path, thread: false, maintenance: rollups });
    return { rollups, path, w, loop: [] as number[], cpu: [] as number[] };
  });
  let n = 0;
  const rows = (count: number) => Array.from({ length: count }, () => rowAt(++n, t0, opts.rate));
  const behind = (w: UsageWriter) => w.db.prepare('SELECT (SELECT MAX(id) FROM usage_rows) - rolled_id FROM usage_rollup_state').pluck().get() as number;
  const run = async (v: (typeof variants)[number], work: UsageRow[]) => {
    const cpu0 = cpuUs();
    const start = performance.now();
    for (const r of work) v.w.record(r);
    v.w.flush();
    const loop = ((performance.now() - start) * 1000) / work.length;
    // Until the rollup thread has caught up but for its open fold (it flushes every 16,384 rows, or 60 s): the open
    // fold's flush falls in the next round, as the previous round's fell in this one.
    if (v.rollups) for (let i = 0; i < 2_000 && behind(v.w) >= 16_384; i++) await sleep(10);
    return { loop, cpu: (cpuUs() - cpu0) / work.length };
  };
  await Promise.all(variants.map((v) => v.w.ready));
  const warm = rows(opts.warmRows);
  for (const v of variants) await run(v, warm);
  for (let round = 0; round < opts.rounds; round++) {
    const work = rows(opts.rowsPerRound);
    const order = round % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      const r = await run(v, work);
      v.loop.push(r.loop);
      v.cpu.push(r.cpu);
    }
  }
  for (const v of variants) {
    v.w.close();
    removeDb(v.path);
  }
  const [a, b] = variants as [(typeof variants)[number], (typeof variants)[number]];
  return {
    loop: { with: median(a.loop), without: median(b.loop) },
    cpu: { with: median(a.cpu), without: median(b.cpu) },
    rounds: opts.rounds,
    rowsPerRound: opts.rowsPerRound,
    rate: opts.rate,
    perRound: { with: a.loop, without: b.loop },
  };
}
