/**
 * `npm run bench:routing:replicas` (issue 13): the real-time end-to-end routing benchmark (scripts/routing-e2e/)
 * with N gateway replicas (1, 2, 3) behind a round-robin front (the driver sends request i to replica i mod N), on the
 * b2b-saas-like shared-prefix workload of bench:routing:e2e, same seed and offered load for every N, token_aware,
 * with the replica exchange over a real redis-server and without it (`state.routing.enabled: false`).
 * Reports p50/p99 TTFT and the engines' prefix-cache hit ratio per row, the exchange's bytes per 1,000 requests (from
 * the replicas' /metrics), and the request-path cost of the exchange's hook (in-process, RoutingCore plan + begin +
 * end with and without it, alternating rounds). Writes bench/results/routing-replicas.md.
 *
 *   npm run bench:routing:replicas               time scale 0.75, 10 s measured window per row, ≈ 3 min
 *   options: --time-scale=0.75 --load=0.8 --seed=1 --rows=1,2,2x,3,3x,3xk,3xr,3xkr --measure=10 (seconds) --out=path
 *            (x = exchange on; k = the engines publish vLLM-style KV events and every replica subscribes; r = the last
 *            replica is restarted halfway through the schedule and must catch up from the snapshot or the events)
 *            --repeat=N (every row N times, order reversed on every other pass; the row shows the run with the median
 *            p99 TTFT)
 */
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { startRedis } from '../test/helpers/redis.js';
import { installCleanup } from './bench/procs.js';
import { RoutingCore } from '../src/routing/core.js';
import { ReplicaExchange } from '../src/routing/replica/exchange.js';
import { KvEventsSource } from '../src/routing/kv-events/source.js';
import { loadZeromq } from '../src/routing/kv-events/subscriber.js';
import { tokenizerFor } from '../src/routing/kv-events/token-keys.js';
import { encode as encodeMsgpack } from '@msgpack/msgpack';
import { newBroadcastStats, type Broadcast } from '../src/state/index.js';
import { desSaturation } from './routing-e2e/des-ref.js';
import { runSimulation } from '../src/sim/des/runner.js';
import { percentile } from '../src/sim/des/stats.js';
import { prepareRuntime } from './routing-e2e/procs.js';
import { runSchedule, type RunSettings, type ScheduledRequest } from './routing-e2e/run.js';
import { summarize } from './routing-e2e/summary.js';
import { arrivals, buildWorkload, type SharedPrefixSpec } from './routing-e2e/workload.js';

const { values: args } = parseArgs({
  options: {
    'time-scale': { type: 'string', default: '0.75' },
    load: { type: 'string', default: '0.8' },
    seed: { type: 'string', default: '1' },
    rows: { type: 'string', default: '1,2,2x,3,3x,3xk,3xr,3xkr' },
    repeat: { type: 'string', default: '1' },
    'des-only': { type: 'boolean', default: false },
    /** Measured window in simulated seconds (after the warm-up pass); longer windows make p99 less noisy. */
    measure: { type: 'string', default: '10' },
    out: { type: 'string' },
  },
});
const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');
const TMP = resolve(ROOT, 'bench/tmp/routing-e2e');
const OUT = resolve(ROOT, args.out ?? 'bench/results/routing-replicas.md');
const T = Number(args['time-scale']);
const SEED = Number(args.seed);
const LOAD = Number(args.load);
const BACKENDS = 4;
const KV_BLOCKS = 8000;
const MODEL = 'sim-llama-8b';
/** bench:routing:e2e's shared-prefix workload, with its --quick window. */
const SHARED: SharedPrefixSpec = {
  name: 'b2b-saas-mini',
  title: 'b2b-saas-like shared prefixes for 4 replicas (31×5, 6000+1200 in, 250 out)',
  groups: 31,
  perGroup: 5,
  systemTokens: 6000,
  questionTokens: 1200,
  outputTokens: 250,
  measureMs: Number(args.measure) * 1000,
  sloTtftMs: 2000,
  seed: 101,
  shared: true,
};
const started = performance.now();
const log = (s: string): void => void process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${s}\n`);

function sumMetric(text: string, name: string, labelled = false): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `)) total += Number(line.slice(name.length + 1)) || 0;
    else if (labelled && line.startsWith(`${name}{`)) total += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return total;
}

function rowLabel(n: number, exchange: boolean, kv: boolean, restart: boolean): string {
  if (n === 1 && !kv) return '1';
  const source = [exchange ? 'exchange' : '', kv ? 'KV events' : ''].filter(Boolean).join(' + ');
  return `${n} ${source ? `with ${source}` : 'without exchange'}${restart ? ', one restarted mid-run' : ''}`;
}

/** A KV-event source builds its subscriber with zeromq (the ones below are fed directly, never started). */
const zmq = await loadZeromq();

/**
 * µs per plan + begin + end on a 4-backend token_aware pool, with the exchange's hook or without, alternating rounds;
 * and the batch building the timer does (dedup, packing, JSON), per request, measured apart from the request path.
 */
function hookCost(): { without: number; with: number; batchPerRequest: number; kv: number } {
  const nullBroadcast: Broadcast = { publish() {}, onMessage() {}, async offerSnapshot() {}, async loadSnapshot() { return null; }, stats: newBroadcastStats(), async close() {} };
  const targets = Array.from({ length: BACKENDS }, (_, i) => ({ id: `http://b${i}:8000`, url: `http://b${i}:8000`, kind: 'vllm' as const, weight: 1, model: 'm' }));
  const pool = { name: 'm', policy: 'token_aware' as const, targets };
  const prompts = Array.from({ length: 64 }, (_, i) => `System prompt ${i % 8}. `.repeat(300) + `question ${i}`);
  // KV events live for every backend: each engine holds the blocks of two of the eight system prompts.
  const tokenize = tokenizerFor('simulator');
  const kvSources = () =>
    new Map(
      targets.map((t, b) => {
        const src = new KvEventsSource({ zmq, backendId: t.id, endpoint: 'tcp://127.0.0.1:1', replayEndpoint: null, topic: '', tokenizer: 'simulator', staleMs: 1e9, now: () => performance.now() });
        const events = [0, 1].map((j) => {
          const ids = Array.from(tokenize(prompts[b * 2 + j] as string));
          const full = Math.floor(ids.length / 16);
          return ['BlockStored', Array.from({ length: full }, (_, k) => b * 1e6 + j * 1e4 + k), null, ids.slice(0, full * 16), 16, null, 'GPU'];
        });
        src.ingest(encodeMsgpack([0, events, 0]));
        return [t.id, src] as const;
      }),
    );
  const round = (withHook: boolean, n: number, kv = false): { path: number; batch: number } => {
    const ex = withHook ? new ReplicaExchange({ broadcast: nullBroadcast, intervalMs: 50, staleMs: 1000, snapshotMs: 5000 }) : undefined;
    const core = new RoutingCore({ ...(ex ? { replica: ex } : {}), ...(kv ? { kvEvents: kvSources() } : {}) });
    let path = 0;
    let batch = 0;
    for (let i = 0; i < n; i++) {
      const req = { endpoint: 'chat' as const, promptTokens: 2000, promptText: prompts[i % 64] as string, maxTokens: 100, sessionKey: null };
      const t0 = performance.now();
      const order = core.plan(pool, targets, req, { resolve() {}, reject() {} }) as typeof targets;
      core.begin(order[0]!, req).end({ ok: true, completionTokens: 10 });
      const t1 = performance.now();
      path += t1 - t0;
      if (ex && i % 50 === 49) {
        // What the timer does every 50 ms (here every 50 requests: 1,000 requests/s), outside the request path.
        ex.flush();
        batch += performance.now() - t1;
      }
    }
    return { path: (path * 1000) / n, batch: (batch * 1000) / n };
  };
  const a: number[] = [];
  const b: number[] = [];
  const c: number[] = [];
  const k: number[] = [];
  for (let r = 0; r < 6; r++) {
    a.push(round(false, 2000).path);
    const w = round(true, 2000);
    b.push(w.path);
    c.push(w.batch);
    k.push(round(true, 2000, true).path);
  }
  const med = (x: number[]) => x.sort((p, q) => p - q)[Math.floor(x.length / 2)] as number;
  return { without: med(a), with: med(b), batchPerRequest: med(c), kv: med(k) };
}

/**
 * The same rows on the virtual clock (src/sim/des: the engine code and the gateway's RoutingCore and ReplicaExchange,
 * N cores behind a round-robin front, batches delivered 1 ms after they are published): what the design does without
 * the shared machine's noise. Median over seeds of p99 TTFT.
 */
function desRows(w: ReturnType<typeof buildWorkload>, qps: number, specs: readonly string[], seeds: number): string[] {
  const out: string[] = [];
  let one: { p99: number; hit: number } | null = null;
  for (const spec of specs) {
    const n = Number.parseInt(spec, 10);
    const exchange = spec.endsWith('x') ? { intervalMs: 50, staleMs: 1000, delayMs: 1 } : null;
    const runs = Array.from({ length: seeds }, (_, k) => {
      const r = runSimulation({
        workload: w.des,
        policy: 'token_aware',
        qps,
        seed: SEED + k,
        backends: Array.from({ length: BACKENDS }, () => ({ numGpuBlocks: KV_BLOCKS })),
        scrapeIntervalMs: 250,
        front: { gateways: n, exchange },
      });
      return { p50: percentile(r.ttftMs, 50), p99: percentile(r.ttftMs, 99), hit: r.promptTokens > 0 ? r.cachedTokens / r.promptTokens : 0 };
    }).sort((a, b) => a.p99 - b.p99);
    const m = runs[Math.floor((runs.length - 1) / 2)]!;
    if (n === 1) one = m;
    const label = n === 1 ? '1' : `${n} ${exchange ? 'with exchange' : 'without exchange'}`;
    log(`  DES ${label.padEnd(22)} TTFT p50 ${m.p50.toFixed(0)} p99 ${m.p99.toFixed(0)} ms, hit ${(m.hit * 100).toFixed(1)}%`);
    out.push(`| ${label} | ${(m.p50 / 1000).toFixed(3)} s | ${(m.p99 / 1000).toFixed(3)} s | ${one ? `${(m.p99 / one.p99).toFixed(2)}×` : ''} | ${m.hit.toFixed(3)} | ${one ? ((m.hit - one.hit) * 100).toFixed(1) : ''} |`);
  }
  return out;
}

async function main(): Promise<void> {
  installCleanup();
  mkdirSync(TMP, { recursive: true });
  const rt = prepareRuntime(ROOT, TMP, 'compiled', log);
  // tsc emits no assets: the compiled gateway reads the console's bundle beside its code.
  const assets = resolve(ROOT, 'src/console/assets');
  if (rt.kind === 'compiled' && existsSync(assets)) cpSync(assets, resolve(TMP, 'dist/src/console/assets'), { recursive: true });
  const redis = await startRedis();
  const loadAtStart = loadavg()[0] as number;
  try {
    const w = buildWorkload(SHARED);
    const sat = desSaturation(w, SEED, { replicas: BACKENDS, kvBlocks: KV_BLOCKS, scrapeMs: 250 }, 16);
    const qps = sat * LOAD;
    const schedule: ScheduledRequest[] = arrivals(w, qps, SEED).map((a) => ({ atMs: a.atMs, prompt: a.prompt, stage: a.measured ? 0 : null }));
    log(`offered ${qps.toFixed(2)} QPS simulated (${(qps / T).toFixed(1)}/s real), ${schedule.length} requests per row`);
    // The virtual clock has the exchange but no KV-event transport or process restarts: only the plain rows.
    const des = desRows(w, qps, (args.rows ?? '').split(',').filter((r) => /^\d+x?$/.test(r)), 3);
    const desTable = ['| gateway replicas | TTFT p50 | TTFT p99 | p99 vs 1 | prefix-cache hit ratio | hit Δ (points) |', '|---|---|---|---|---|---|', ...des].join('\n');
    process.stdout.write(`${desTable}\n\n`);
    if (args['des-only']) return;
    const rows: string[] = [];
    type Row = { label: string; p50: number; p99: number; hit: number; ok: number; err: number; updatesPer1k: number; snapshotsPerS: number; kvPer1k: number; slow: number };
    const specs = (args.rows ?? '').split(',').filter(Boolean);
    const runs = new Map<string, Row[]>();
    let run = 0;
    const REPEAT = Math.max(1, Number(args.repeat));
    for (let rep = 0; rep < REPEAT; rep++) {
      for (const spec of rep % 2 === 0 ? specs : [...specs].reverse()) {
        const n = Number.parseInt(spec, 10);
        const exchange = spec.includes('x');
        const kv = spec.includes('k');
        const restartAt = spec.includes('r') ? 0.5 : undefined;
        // A prefix per run, so one run's snapshot never reaches the next.
        const state = { redis: redis.url, prefix: `bench13-${run++}:`, routing: { enabled: exchange } };
        const settings: RunSettings = {
          rt,
          tmp: TMP,
          replicas: BACKENDS,
          sim: { timeScale: T, kvBlocks: KV_BLOCKS, speed: 1, model: MODEL, kvEvents: kv },
          sessionHints: true,
          routing: () => ({ scrape: { interval: Math.round(250 * T) }, health: { probe_interval: Math.round(5000 * T) }, queue: { max_wait: Math.round(30_000 * T) } }),
          log,
          front: { gateways: n, extra: { state, kvEvents: kv }, ...(restartAt !== undefined ? { restartAt } : {}) },
        };
        const out = await runSchedule(settings, w, 'token_aware', schedule);
        const s = summarize(out, 0, SHARED.outputTokens);
        const total = sumMetric(out.gateway.text, 'infergate_routing_exchange_bytes_sent_total');
        const snaps = sumMetric(out.gateway.text, 'infergate_routing_exchange_snapshot_bytes_sent_total');
        const per1k = (x: number) => (x / Math.max(1, out.records.length)) * 1000;
        const label = rowLabel(n, exchange, kv, restartAt !== undefined);
        const kvBytes = sumMetric(out.gateway.text, 'infergate_kv_events_bytes_total', true);
        const d: Row = { label, p50: s.ttftP50, p99: s.ttftP99, hit: s.engineHitRate, ok: s.completed, err: s.errors, updatesPer1k: per1k(total - snaps), snapshotsPerS: snaps / Math.max(1e-9, out.cpu.realS), kvPer1k: per1k(kvBytes) / n, slow: s.simSlowdown };
        runs.set(label, [...(runs.get(label) ?? []), d]);
        if (kv) {
          const states = new Map<string, number>();
          for (const l of out.gateway.text.split('\n')) {
            const m = /^infergate_kv_events_state\{.*state="(\w+)".*\} 1$/.exec(l);
            if (m) states.set(m[1] as string, (states.get(m[1] as string) ?? 0) + 1);
          }
          const misses = sumMetric(out.gateway.text, 'infergate_kv_events_probe_misses_total', true);
          const gaps = sumMetric(out.gateway.text, 'infergate_kv_events_gaps_total', true);
          log(`  KV-event sources at the end (${n * BACKENDS} replica × backend pairs): ${[...states].map(([k, v]) => `${k} ${v}`).join(', ')}; probe misses ${misses}, gaps ${gaps}`);
        }
        log(`  ${label.padEnd(22)} TTFT p50 ${d.p50.toFixed(0)} p99 ${d.p99.toFixed(0)} ms, hit ${(d.hit * 100).toFixed(1)}%, ${d.ok} ok ${d.err} err, updates ${(d.updatesPer1k / 1024).toFixed(0)} KiB per 1k req + snapshots ${(d.snapshotsPerS / 1024).toFixed(1)} KiB/s, sims ${(d.slow * 100).toFixed(1)}% slow`);
      }
    }
    const data: Row[] = [...runs.values()].map((all) => [...all].sort((x, y) => x.p99 - y.p99)[Math.floor((all.length - 1) / 2)] as Row);
    const one = data.find((d) => d.label === '1');
    for (const d of data) {
      const ratio = one ? `${(d.p99 / one.p99).toFixed(2)}×` : '';
      const dHit = one ? `${((d.hit - one.hit) * 100).toFixed(1)}` : '';
      rows.push(`| ${d.label} | ${(d.p50 / 1000).toFixed(3)} s | ${(d.p99 / 1000).toFixed(3)} s | ${ratio} | ${d.hit.toFixed(3)} | ${dHit} | ${d.updatesPer1k > 0 ? `${(d.updatesPer1k / 1024).toFixed(0)} KiB` : '–'} | ${d.snapshotsPerS > 0 ? `${(d.snapshotsPerS / 1024).toFixed(1)} KiB/s` : '–'} | ${d.kvPer1k > 0 ? `${(d.kvPer1k / 1024).toFixed(0)} KiB` : '–'} | ${d.ok} / ${d.err} | ${(d.slow * 100).toFixed(1)}% |`);
    }
    const cost = hookCost();
    const table = [
      '| gateway replicas | TTFT p50 | TTFT p99 | p99 vs 1 | prefix-cache hit ratio | hit Δ (points) | update bytes per 1,000 requests | snapshot bytes per second | KV-event bytes per 1,000 requests, per replica | ok / errors | sims lag |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
      ...rows,
    ].join('\n');
    const costLine = `Request-path cost (in-process RoutingCore plan + begin + end, token_aware, 4 backends, 2,000-token prompts, median of 6 alternating rounds): ${cost.without.toFixed(1)} µs without the exchange, ${cost.with.toFixed(1)} µs with it (the hook is one array append); building the batches off the request path (dedup, packing, JSON) costs ${cost.batchPerRequest.toFixed(1)} µs per request on the timer. With KV events live for every backend (the exchange on too): ${cost.kv.toFixed(1)} µs, which adds tokenizing the prompt once with the engine's tokenizer (here the simulator's, ${tokenizerFor('simulator')('System prompt 0. '.repeat(300)).length} tokens) and matching its token blocks in each backend's event index.`;
    process.stdout.write(`${table}\n\n${costLine}\n`);
    const md = `# Routing with several gateway replicas (issue 13)

\`npm run bench:routing:replicas -- ${process.argv.slice(2).join(' ')}\` · ${new Date().toISOString().slice(0, 16)} UTC · time scale ${T}, ${BACKENDS} simulated vLLM backends (${KV_BLOCKS} KV blocks each), ${SHARED.title}, offered ${qps.toFixed(2)} QPS simulated (${LOAD} × the discrete-event round-robin saturation), seed ${SEED}, ${REPEAT} run(s) per row (the median p99 shown), ${schedule.length} requests per run (${schedule.filter((x) => x.stage === 0).length} measured), token_aware, session hints on, load average ${loadAtStart.toFixed(1)} at the start and ${(loadavg()[0] as number).toFixed(1)} at the end (2 cores). Replicas behind a round-robin front (request i to replica i mod N), one real redis-server; "without exchange" is \`state.routing.enabled: false\` (today's behaviour). On a shared 2-core machine: compare rows of the same file, and read the lag column (how far the simulators fell behind real time).

## Real time (gateway processes, simulator processes, Redis)

${table}

## Discrete-event reference (same workload, load and fleet; virtual clock, median of 3 seeds)

The engine code and the gateway's own RoutingCore and ReplicaExchange, N cores behind the round-robin front, batches
every 50 ms delivered 1 ms later: the design's effect without the shared machine's noise.

${desTable}

## Request-path cost

${costLine}
`;
    writeFileSync(OUT, md);
    log(`wrote ${OUT}`);
  } finally {
    await redis.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
