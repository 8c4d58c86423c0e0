/**
 * Load generators. Closed loop (max throughput): autocannon, a well-kept generator whose HTTP client costs less than
 * the servers it measures. Open loop at a fixed rate and the stream probes: a small undici client here, because
 * autocannon's latency histogram has 1 ms resolution (0.3 ms targets need microseconds) and its rate limiter sends
 * each second's budget in one burst, which is not a fixed arrival rate.
 */
import autocannon from 'autocannon';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

export interface Target {
  /** http://127.0.0.1:PORT */
  origin: string;
  /** Extra headers this row needs (provider headers, upstream switch, Authorization). */
  headers: Record<string, string>;
}

export interface ClosedLoopResult {
  rps: number;
  ok: number;
  failed: number;
}

export function closedLoop(t: Target, path: string, body: string, connections: number, durationS: number): Promise<ClosedLoopResult> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `${t.origin}${path}`,
        connections,
        pipelining: 1,
        duration: durationS,
        timeout: 10,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...t.headers },
        body,
      },
      (err, r) => {
        if (err) return reject(err);
        const ok = r['2xx'];
        resolve({ rps: ok / (r.duration || durationS), ok, failed: r.non2xx + r.errors });
      },
    );
  });
}

export interface FixedRateResult {
  /** Milliseconds from sending the request to the last body byte. */
  latencies: number[];
  /** Milliseconds from sending the request to the first body byte. */
  ttfb: number[];
  sent: number;
  failed: number;
  /** Requests actually sent per second (below the target when the generator fell behind). */
  achievedRate: number;
}

function newPool(origin: string, connections: number): Pool {
  return new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: 30_000, bodyTimeout: 30_000 });
}

/**
 * Open loop: `rate` requests per second for `durationS`, each sent when it is due whatever the others are doing
 * (so a slow proxy builds a queue, as with real clients). Latency is measured from the actual send.
 */
export async function fixedRate(t: Target, path: string, body: string, rate: number, durationS: number): Promise<FixedRateResult> {
  const pool = newPool(t.origin, 256);
  const headers = { 'content-type': 'application/json', ...t.headers };
  const total = Math.max(1, Math.round(rate * durationS));
  const latencies: number[] = [];
  const ttfb: number[] = [];
  let failed = 0;
  let sent = 0;
  let outstanding = 0;
  let closed = false;
  let allSent: () => void = () => {};
  const drained = new Promise<void>((r) => (allSent = r));

  const fire = () => {
    sent++;
    outstanding++;
    const start = performance.now();
    let first = 0;
    const settle = (ok: boolean) => {
      if (closed) return;
      if (ok) {
        latencies.push(performance.now() - start);
        ttfb.push((first || performance.now()) - start);
      } else failed++;
      if (--outstanding === 0 && sent === total) allSent();
    };
    pool.request({ method: 'POST', path, headers, body }).then(
      (res) => {
        const ok = res.statusCode < 300;
        res.body.on('data', () => {
          if (!first) first = performance.now();
        });
        res.body.on('end', () => settle(ok));
        res.body.on('error', () => settle(false));
      },
      () => settle(false),
    );
  };

  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
      while (sent < due) fire();
      if (sent >= total) return resolve();
      setTimeout(tick, 1);
    };
    tick();
  });
  const sendSeconds = (performance.now() - t0) / 1000;
  const deadline = setTimeout(() => allSent(), 15_000);
  if (outstanding > 0) await drained;
  clearTimeout(deadline);
  failed += outstanding;
  closed = true;
  await pool.destroy();
  return { latencies, ttfb, sent, failed, achievedRate: sent / Math.max(sendSeconds, durationS - 1 / rate) };
}

export interface PacedStreamResult {
  /** Per stream: arrival times (ms, relative to the send) of every body chunk. */
  streams: number[][];
  /** One-way trip of every stamped chunk (ms): upstream write (CLOCK_MONOTONIC stamp in the text) to client read. */
  trips: number[];
  failed: number;
}

const STAMP = /@(\d{6,})/g;

/**
 * `concurrency` clients each streaming paced completions back to back for `durationS`, recording when every body
 * chunk arrives and, from the upstream's monotonic stamps, how long each chunk took to get here. Only complete 200
 * streams are kept.
 */
export async function pacedStreams(t: Target, path: string, body: string, concurrency: number, durationS: number): Promise<PacedStreamResult> {
  const pool = newPool(t.origin, concurrency);
  const headers = { 'content-type': 'application/json', ...t.headers };
  const streams: number[][] = [];
  const trips: number[] = [];
  let failed = 0;
  const end = performance.now() + durationS * 1000;

  const one = () =>
    new Promise<void>((resolve) => {
      const start = performance.now();
      const arrivals: number[] = [];
      const mine: number[] = [];
      pool.request({ method: 'POST', path, headers, body }).then(
        (res) => {
          res.body.on('data', (chunk: Buffer) => {
            const now = process.hrtime.bigint();
            arrivals.push(performance.now() - start);
            for (const m of chunk.toString('latin1').matchAll(STAMP)) mine.push(Number(now - BigInt(m[1]!)) / 1e6);
          });
          res.body.on('end', () => {
            if (res.statusCode === 200 && arrivals.length > 0) {
              streams.push(arrivals);
              for (const x of mine) trips.push(x);
            } else failed++;
            resolve();
          });
          res.body.on('error', () => {
            failed++;
            resolve();
          });
        },
        () => {
          failed++;
          resolve();
        },
      );
    });

  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) await one();
    }),
  );
  await pool.destroy();
  return { streams, trips, failed };
}

/** One request, for smoke checks: status, headers and body text. */
export async function probe(
  origin: string,
  path: string,
  body: string | null,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const pool = newPool(origin, 1);
  try {
    const res = await pool.request({
      method: body === null ? 'GET' : 'POST',
      path,
      headers: { 'content-type': 'application/json', ...headers },
      body: body ?? undefined,
    });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  } finally {
    await pool.destroy();
  }
}
