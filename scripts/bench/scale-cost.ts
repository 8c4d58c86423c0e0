/**
 * The cost of shared state and of more workers, full stack (JWT auth, rate limits and a quota, usage log): CPU per
 * request with and without `state.redis`, and throughput per gateway core with 1 and 2 workers. CPU is read from
 * /proc for the gateway's own processes, so the load generator and the simulated backend (separate processes on the
 * same shared cores) do not count; ratios are what to read on a shared machine.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { mintDevToken } from '../../src/auth/index.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startGatewayProc, tempConfig, type GatewayProc } from '../../test/scale/proc.js';
import { closedLoop, fixedRate, type Target } from './loadgen.js';
import { readCpuSeconds } from './procs.js';
import { prepareRuntime } from './runtime.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SECRET = 'bench-secret-bench-secret-bench-secret-0123456789';
const BODY = JSON.stringify({ model: 'sim-llama-8b', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 16 });

export async function startSimProc(entry: readonly string[] = ['--import', 'tsx', 'src/sim/cli.ts']): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [...entry, '--replicas', '1', '--port', '0', '--engine', 'fast'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((res, rej) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /http:\/\/[\d.:]+/.exec(out);
      if (m) res(m[0]);
    });
    child.once('exit', () => rej(new Error('sim exited')));
  });
  return { url, child };
}

function fullStack(dir: string, simUrl: string, opts: { redis: string | null; workers: number }): Record<string, unknown> {
  return {
    server: { listen: '127.0.0.1:0', workers: opts.workers, drain: '1s' },
    auth: { issuers: [{ issuer: 'infergate-dev', audience: 'infergate', secret: SECRET, algorithms: ['HS256'] }] },
    models: [{ name: 'sim-llama-8b', backends: [{ url: simUrl }] }],
    routing: { health: { probe_interval: 0 }, scrape: { interval: 0 } },
    limits: [{ match: { subject: '*' }, rpm: 100_000_000, tpm: 10_000_000_000, concurrency: 100_000 }],
    quotas: [{ match: { subject: '*' }, tokens_per_day: 1_000_000_000_000 }],
    usage: { sqlite: `${dir}/usage.db` },
    ...(opts.redis ? { state: { redis: opts.redis } } : {}),
    telemetry: { log_level: 'error', metrics: false },
  };
}

/** CPU seconds of the gateway: the process and, with workers, its worker children. */
function gatewayCpu(gw: GatewayProc): number {
  let pids = [gw.child.pid!, ...gw.workers()];
  try {
    pids = [...new Set([...pids, ...execFileSync('pgrep', ['-P', String(gw.child.pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number)])];
  } catch {
    // no children
  }
  return pids.reduce((s, p) => s + (readCpuSeconds(p) ?? 0), 0);
}

export interface CpuRow {
  setup: string;
  rate: number;
  sent: number;
  usPerRequest: number;
  p99Ms: number;
}

export interface ScaleRow {
  workers: number;
  /** Open loop, the same offered rate per worker for every row (like for like: same batching per event loop). */
  rate: number;
  /** Median over rounds of the gateway's CPU per request (µs): all its processes, then split by role. */
  usPerRequest: number;
  supervisorUs: number;
  workerUs: number;
  /** The busiest worker's share of a core at that rate (how far from saturation each worker ran). */
  workerBusy: number;
  /** Closed loop, `connections` connections: req/s served, and gateway cores busy meanwhile (a shared 2-core host). */
  closedRps: number;
  closedCores: number;
  /** CPU per request in the closed loop (µs, all gateway processes). */
  closedUs: number;
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : Number.NaN;
};

export async function runCost(log: (s: string) => void, o: { rate: number; seconds: number; rounds: number }): Promise<CpuRow[]> {
  const sim = await startSimProc();
  const redis = await startRedis();
  const token = await mintDevToken({ secret: SECRET, sub: 'bench', scope: 'models:*', ttl: '1h', audience: 'infergate' });
  const rows: CpuRow[] = [];
  try {
    const setups = [
      { name: 'full stack, limits in the process', redis: null },
      { name: 'full stack, state.redis (leases)', redis: redis.url },
    ];
    const gws: GatewayProc[] = [];
    for (const s of setups) {
      const { dir, file } = await tempConfig((d) => fullStack(d, sim.url, { redis: s.redis, workers: 1 }));
      gws.push(await startGatewayProc(dir, file));
    }
    const samples: Array<{ us: number[]; p99: number[]; sent: number }> = setups.map(() => ({ us: [], p99: [], sent: 0 }));
    // Warm both (JIT, token cache, leases sized to the rate), then alternate short windows A, B, A, B, ...
    for (const gw of gws) await fixedRate({ origin: gw.url, headers: { authorization: `Bearer ${token}` } }, '/v1/chat/completions', BODY, o.rate, 1);
    for (let round = 0; round < o.rounds; round++) {
      for (let i = 0; i < gws.length; i++) {
        const gw = gws[i]!;
        const t: Target = { origin: gw.url, headers: { authorization: `Bearer ${token}` } };
        const c0 = gatewayCpu(gw);
        const r = await fixedRate(t, '/v1/chat/completions', BODY, o.rate, o.seconds);
        const cpu = gatewayCpu(gw) - c0;
        samples[i]!.us.push((cpu * 1e6) / Math.max(1, r.sent - r.failed));
        samples[i]!.p99.push(quantile(r.latencies, 0.99));
        samples[i]!.sent += r.sent;
        log(`cost: ${setups[i]!.name} round ${round + 1}: ${((cpu * 1e6) / r.sent).toFixed(0)} us/request, failed ${r.failed}`);
      }
    }
    for (let i = 0; i < setups.length; i++) {
      rows.push({ setup: setups[i]!.name, rate: o.rate, sent: samples[i]!.sent, usPerRequest: quantile(samples[i]!.us, 0.5), p99Ms: quantile(samples[i]!.p99, 0.5) });
    }
    await Promise.all(gws.map((g) => g.cleanup()));
  } finally {
    sim.child.kill('SIGKILL');
    await redis.close();
  }
  return rows;
}

/** CPU seconds per process of the gateway: [the process started, ...its workers]. */
function cpuByProcess(gw: GatewayProc): { pids: number[]; cpu: () => number[] } {
  const pids = [gw.child.pid!, ...gw.workers()];
  return { pids, cpu: () => pids.map((p) => readCpuSeconds(p) ?? 0) };
}

const median = (xs: number[]) => quantile(xs, 0.5);

/**
 * Throughput per core with 1 and 2 workers. The load generator and the simulated backend share the host's two cores
 * with the gateway, so two workers can never be driven to saturation here: comparing a saturated single process with
 * two half-busy ones (as a plain closed loop does) measures batching and the host, not the gateway. The figure is
 * therefore the gateway's CPU time per request, summed over its processes (supervisor included), at the same offered
 * rate *per worker* in both rows, read from /proc; req/s per core = 1e6 / µs per request. Both gateways run
 * compiled (what the Docker image runs) and are measured in alternating windows, so a noisy neighbour hits both.
 */
export async function runScale(
  log: (s: string) => void,
  o: { seconds: number; connections: number; perWorkerRate: number; rounds: number },
): Promise<ScaleRow[]> {
  const runtime = prepareRuntime(ROOT, resolve(ROOT, 'bench/tmp'), 'compiled', log);
  const sim = await startSimProc(runtime.nodeArgs('src/sim/cli.ts'));
  const token = await mintDevToken({ secret: SECRET, sub: 'bench', scope: 'models:*', ttl: '1h', audience: 'infergate' });
  const rows: ScaleRow[] = [];
  const gws: GatewayProc[] = [];
  try {
    const counts = [1, 2];
    for (const workers of counts) {
      const { dir, file } = await tempConfig((d) => fullStack(d, sim.url, { redis: null, workers }));
      gws.push(await startGatewayProc(dir, file, runtime.nodeArgs('src/main.ts')));
    }
    const targets = gws.map((gw): Target => ({ origin: gw.url, headers: { authorization: `Bearer ${token}` } }));
    // Warm-up: JIT, the token cache, leases sized to the rate, every worker's connections.
    for (let i = 0; i < gws.length; i++) await closedLoop(targets[i]!, '/v1/chat/completions', BODY, o.connections, 2);
    const samples = counts.map(() => ({ us: [] as number[], sup: [] as number[], wrk: [] as number[], busy: [] as number[], crps: [] as number[], ccores: [] as number[], cus: [] as number[] }));
    for (let round = 0; round < o.rounds; round++) {
      for (let i = 0; i < gws.length; i++) {
        const workers = counts[i]!;
        const procs = cpuByProcess(gws[i]!);
        const rate = o.perWorkerRate * workers;
        let c0 = procs.cpu();
        const r = await fixedRate(targets[i]!, '/v1/chat/completions', BODY, rate, o.seconds);
        let c1 = procs.cpu();
        const served = Math.max(1, r.sent - r.failed);
        const d = c1.map((c, k) => c - c0[k]!);
        const s = samples[i]!;
        // One worker: the single process is the worker (no supervisor).
        const sup = workers === 1 ? 0 : d[0]!;
        const wrk = workers === 1 ? d : d.slice(1);
        s.us.push(((sup + wrk.reduce((a, b) => a + b, 0)) * 1e6) / served);
        s.sup.push((sup * 1e6) / served);
        s.wrk.push((wrk.reduce((a, b) => a + b, 0) * 1e6) / served);
        s.busy.push(Math.max(...wrk) / o.seconds);
        c0 = procs.cpu();
        const cl = await closedLoop(targets[i]!, '/v1/chat/completions', BODY, o.connections, o.seconds);
        c1 = procs.cpu();
        const total = c1.reduce((a, b) => a + b, 0) - c0.reduce((a, b) => a + b, 0);
        s.crps.push(cl.rps);
        s.ccores.push(total / o.seconds);
        s.cus.push((total * 1e6) / Math.max(1, cl.ok));
        log(`scale: ${workers} worker(s) round ${round + 1}: ${rate} req/s offered, ${s.us.at(-1)!.toFixed(1)} µs/request (failed ${r.failed}); closed loop ${cl.rps.toFixed(0)} req/s on ${(total / o.seconds).toFixed(2)} cores`);
      }
    }
    for (let i = 0; i < counts.length; i++) {
      const s = samples[i]!;
      rows.push({
        workers: counts[i]!,
        rate: o.perWorkerRate * counts[i]!,
        usPerRequest: median(s.us),
        supervisorUs: median(s.sup),
        workerUs: median(s.wrk),
        workerBusy: median(s.busy),
        closedRps: median(s.crps),
        closedCores: median(s.ccores),
        closedUs: median(s.cus),
      });
    }
  } finally {
    await Promise.all(gws.map((g) => g.cleanup()));
    sim.child.kill('SIGKILL');
  }
  return rows;
}

const SCALE_HEADING = '## Throughput per core with 1 and 2 workers';
const fx = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '–');

/** The throughput section of bench/results/scale.md, with its target and verdict. */
export function scaleSection(scale: readonly ScaleRow[]): string {
  const one = scale[0]!;
  const two = scale[1]!;
  // req/s per gateway core with two workers over one worker's: the inverse ratio of CPU per request.
  const efficiency = one.usPerRequest / two.usPerRequest;
  const perCore = 1e6 / Math.max(one.usPerRequest, two.usPerRequest);
  const head = ['workers', 'offered req/s', 'CPU µs/request, all processes', 'of which supervisor', 'of which workers', 'busiest worker (cores)', 'req/s per gateway core', 'closed loop req/s (64 conn.)', 'closed loop cores busy', 'closed loop µs/request'];
  return [
    `${SCALE_HEADING} (full stack: JWT, rpm/tpm/concurrency limits, a daily quota, usage log)`,
    '',
    `Load average ${loadavg().map((l) => l.toFixed(1)).join(' / ')} at the end. The gateway runs compiled (as in the Docker image). The host's two cores are`,
    'shared by the load generator and the simulated backend, so two workers cannot be driven to saturation here, and a',
    'closed loop compares a saturated single process (many requests per event-loop turn) with two half-busy ones. The',
    "figure is therefore the gateway's CPU time per request, all its processes (supervisor included) read from /proc, at",
    `the same offered rate per worker in both rows (${one.rate} req/s per worker, open loop); req/s per core = 10⁶ / µs per`,
    'request. Windows alternate between the two gateways; medians of the rounds. The closed-loop columns are shown as measured.',
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...scale.map((r) => `| ${[r.workers, r.rate, fx(r.usPerRequest, 1), fx(r.supervisorUs, 1), fx(r.workerUs, 1), fx(r.workerBusy, 2), fx(1e6 / r.usPerRequest), fx(r.closedRps), fx(r.closedCores, 2), fx(r.closedUs, 1)].join(' | ')} |`),
    '',
    '| target | measured | verdict |',
    '|---|---|---|',
    `| per-core efficiency with 2 workers ≥ 90% of one worker's req/s per core | ${fx(100 * efficiency, 1)}% | ${efficiency >= 0.9 ? 'met' : '**missed**'} |`,
    '',
    `Projected cores for 250,000 req/s at the lower per-core figure (${fx(perCore)} req/s per core; CPU measured below saturation, so conservative): **${fx(250_000 / perCore)}** cores.`,
  ].join('\n');
}

/** `--only scale`: puts the section in place of the old throughput section (older headings included), or appends it. */
export function replaceScaleSection(md: string, section: string, when: string): string {
  const dated = `${section}\n\n(This section re-run alone with \`--only scale\` at ${when}.)`;
  let start = md.indexOf(SCALE_HEADING);
  if (start < 0) start = md.indexOf('## Throughput per worker');
  if (start < 0) return `${md.trimEnd()}\n\n${dated}\n`;
  const next = md.indexOf('\n## ', start + 4);
  return `${md.slice(0, start)}${dated}\n${next < 0 ? '' : md.slice(next)}`;
}
