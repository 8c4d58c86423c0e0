/**
 * The cost of shared state and of more workers, full stack (JWT auth, rate limits and a quota, usage log): CPU per
 * request with and without `state.redis`, and throughput per gateway core with 1 and 2 workers. CPU is read from
 * /proc for the gateway's own processes, so the load generator and the simulated backend (separate processes on the
 * same shared cores) do not count; ratios are what to read on a shared machine.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { mintDevToken } from '../../src/auth/index.js';
import { startRedis } from '../../test/helpers/redis.js';
import { startGatewayProc, tempConfig, type GatewayProc } from '../../test/scale/proc.js';
import { closedLoop, fixedRate, type Target } from './loadgen.js';
import { readCpuSeconds } from './procs.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SECRET = 'bench-secret-bench-secret-bench-secret-0123456789';
const BODY = JSON.stringify({ model: 'sim-llama-8b', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 16 });

export async function startSimProc(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/sim/cli.ts', '--replicas', '1', '--port', '0', '--engine', 'fast'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
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
  rps: number;
  gatewayCores: number;
  rpsPerCore: number;
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

export async function runScale(log: (s: string) => void, o: { seconds: number; connections: number }): Promise<ScaleRow[]> {
  const sim = await startSimProc();
  const token = await mintDevToken({ secret: SECRET, sub: 'bench', scope: 'models:*', ttl: '1h', audience: 'infergate' });
  const rows: ScaleRow[] = [];
  try {
    for (const workers of [1, 2]) {
      const { dir, file } = await tempConfig((d) => fullStack(d, sim.url, { redis: null, workers }));
      const gw = await startGatewayProc(dir, file);
      const t: Target = { origin: gw.url, headers: { authorization: `Bearer ${token}` } };
      await closedLoop(t, '/v1/chat/completions', BODY, o.connections, 1);
      const c0 = gatewayCpu(gw);
      const r = await closedLoop(t, '/v1/chat/completions', BODY, o.connections, o.seconds);
      const cores = (gatewayCpu(gw) - c0) / o.seconds;
      rows.push({ workers, rps: r.rps, gatewayCores: cores, rpsPerCore: r.rps / Math.max(0.01, cores) });
      log(`scale: ${workers} worker(s): ${r.rps.toFixed(0)} req/s on ${cores.toFixed(2)} gateway cores, failed ${r.failed}`);
      await gw.cleanup();
    }
  } finally {
    sim.child.kill('SIGKILL');
  }
  return rows;
}
