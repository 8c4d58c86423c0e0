/**
 * Child process of the end-to-end routing benchmark: one simulated vLLM backend (the vLLM-faithful engine, 8B/H100
 * cost constants) on the real-time scheduler with a time scale, in its own process so that it never shares an event
 * loop with the gateway or the load generator.
 *
 * The engine's scheduler is wrapped to measure real-time lag: for every deferred call (engine steps and kicks) the
 * difference between when it was due and when it ran. The real-time scheduler catches up on absolute times, so a
 * late timer does not make the following steps late too, but each late step end is a step that lasted longer than
 * the cost model says, so Σ lateness / Σ scheduled time is how much slower than intended the engine ran.
 *
 * Prints one JSON line `{"url":..., "stats":...}` when listening; GET <stats> answers the lag figures and the engine's
 * gauges (steps, busy time, prefix-cache counters). Exits on SIGTERM/SIGINT or when the parent closes stdin.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createVllmEngine, type VllmEngine } from '../../src/sim/engine/vllm.js';
import { startSim, startSimKvEvents, type Scheduler, type SchedulerHandle } from '../../src/sim/index.js';

const { values } = parseArgs({
  options: {
    'time-scale': { type: 'string', default: '1' },
    'kv-blocks': { type: 'string', default: '29205' },
    speed: { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
    model: { type: 'string', default: 'sim-llama-8b' },
    // Publish vLLM-style KV events (ZeroMQ PUB + replay ROUTER on free ports, printed with the URL).
    'kv-events': { type: 'boolean', default: false },
  },
});
const timeScale = Number(values['time-scale']);

interface Lag {
  calls: number;
  /** Σ scheduled delay and Σ lateness, simulated ms. */
  scheduledMs: number;
  lateMs: number;
  /** Lateness samples in real ms (bounded reservoir of the most recent). */
  samples: Float64Array;
  n: number;
}
const lag: Lag = { calls: 0, scheduledMs: 0, lateMs: 0, samples: new Float64Array(200_000), n: 0 };

function measured(inner: Scheduler): Scheduler {
  return {
    now: () => inner.now(),
    at(atMs: number, fn: () => void): SchedulerHandle {
      const calledAt = inner.now();
      return inner.at(atMs, () => {
        const late = Math.max(0, inner.now() - Math.max(atMs, calledAt));
        lag.calls++;
        lag.scheduledMs += Math.max(0, atMs - calledAt);
        lag.lateMs += late;
        lag.samples[lag.n++ % lag.samples.length] = late * timeScale;
        fn();
      });
    },
    cancel: (h) => inner.cancel(h),
  };
}

let engine: VllmEngine | null = null;
const kvEvents = values['kv-events'] ? await startSimKvEvents({ blockSize: 16 }) : null;
const sim = await startSim({
  engine: 'vllm',
  personality: 'vllm',
  model: values.model,
  timeScale,
  kvBlocks: Number(values['kv-blocks']),
  maxModelLen: 65_536,
  log: false,
  createEngine: (scheduler) => {
    engine = createVllmEngine(measured(scheduler), {
      kvBlocks: Number(values['kv-blocks']),
      speed: Number(values.speed),
      seed: Number(values.seed),
      histogramCap: 0,
      ...(kvEvents ? { kvEvents } : {}),
    });
    return engine;
  },
});

function quantile(p: number): number {
  const n = Math.min(lag.n, lag.samples.length);
  if (n === 0) return 0;
  const s = lag.samples.slice(0, n).sort();
  return s[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))] as number;
}

const stats = createServer((req, res) => {
  if (req.url === '/reset') {
    lag.calls = 0;
    lag.scheduledMs = 0;
    lag.lateMs = 0;
    lag.n = 0;
  }
  const g = engine?.gauges();
  res.setHeader('content-type', 'application/json');
  res.end(
    JSON.stringify({
      calls: lag.calls,
      scheduledMs: lag.scheduledMs,
      lateMs: lag.lateMs,
      lateP50RealMs: quantile(50),
      lateP99RealMs: quantile(99),
      gauges: g ?? null,
    }),
  );
});
await new Promise<void>((resolve) => stats.listen(0, '127.0.0.1', () => resolve()));

const kv = kvEvents ? { endpoint: kvEvents.endpoint, replay: kvEvents.replayEndpoint } : null;
process.stdout.write(`${JSON.stringify({ url: sim.url, stats: `http://127.0.0.1:${(stats.address() as AddressInfo).port}`, kv })}\n`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  stats.closeAllConnections();
  stats.close();
  void sim.close().then(() => kvEvents?.close()).finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
