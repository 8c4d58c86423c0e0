/**
 * One real-time run: fresh simulator processes (cold caches, counters at zero), a fresh gateway with one policy, the
 * seeded arrival schedule played in real time (simulated ms × time scale), every request streamed through the
 * gateway and timed at the client, then the simulators' lag figures read and everything stopped.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { PolicyName } from '../../src/routing/types.js';
import { percentile } from '../../src/sim/des/stats.js';
import { completionBody, streamCompletion, type Outcome } from './client.js';
import { readCpuSeconds } from '../bench/procs.js';
import { startGateway, startSims, stopAllOf, stopAllOf as stopChildren, type GatewayProc, type RoutingSection, type Runtime, type SimSettings } from './procs.js';
import type { E2eWorkload } from './workload.js';

export interface ScheduledRequest {
  /** Simulated ms from the start of the schedule. */
  readonly atMs: number;
  readonly prompt: number;
  /** Which measured window (stage) it belongs to; null for warm-up. */
  readonly stage: number | null;
}

export interface RequestRecord {
  readonly stage: number | null;
  /** Simulated ms (real ms ÷ time scale). */
  readonly arrivalMs: number;
  readonly ttftMs: number;
  readonly e2eMs: number;
  readonly outcome: Outcome;
  /** Real ms the send happened after its scheduled time (load-generator lag). */
  readonly sendLagRealMs: number;
}

export interface SimLag {
  /** Deferred engine calls observed, and how late they ran. */
  readonly calls: number;
  /** Σ lateness ÷ Σ scheduled delay: how much longer than intended the engine's steps lasted. */
  readonly slowdown: number;
  readonly lateP50RealMs: number;
  readonly lateP99RealMs: number;
  readonly steps: number;
  readonly busyMs: number;
  readonly prefixQueries: number;
  readonly prefixHits: number;
  readonly preemptions: number;
}

/** Gateway-side counters read from its /metrics after the run (sums over backends). */
export interface GatewayCounters {
  readonly retries: number;
  readonly ejections: number;
  /** In-flight requests the gateway still counts per backend once every response has ended (should be 0). */
  readonly inFlightAfter: number;
  readonly queueWaits: number;
  readonly queueWaitSumS: number;
  readonly text: string;
}

function sumMetric(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) total += v;
  }
  return total;
}

async function gatewayCounters(url: string): Promise<GatewayCounters> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    return {
      retries: sumMetric(text, 'infergate_retries_total'),
      ejections: sumMetric(text, 'infergate_backend_ejections_total'),
      inFlightAfter: sumMetric(text, 'infergate_backend_in_flight_requests'),
      queueWaits: sumMetric(text, 'infergate_queue_wait_seconds_count'),
      queueWaitSumS: sumMetric(text, 'infergate_queue_wait_seconds_sum'),
      text,
    };
  } catch {
    return { retries: Number.NaN, ejections: Number.NaN, inFlightAfter: Number.NaN, queueWaits: Number.NaN, queueWaitSumS: Number.NaN, text: '' };
  }
}

export interface RunData {
  readonly policy: PolicyName;
  readonly records: readonly RequestRecord[];
  readonly sims: readonly SimLag[];
  readonly wallMs: number;
  readonly sendLagP99RealMs: number;
  /** CPU seconds used during the schedule (start of traffic to the last response): gateway, all sims, this process. */
  readonly cpu: { readonly gateway: number; readonly sims: number; readonly driver: number; readonly realS: number; readonly others: number | null };
  readonly gateway: GatewayCounters;
}

export interface RunSettings {
  readonly rt: Runtime;
  readonly tmp: string;
  readonly replicas: number;
  readonly sim: SimSettings;
  /** Send `user` = the prompt's key (what the discrete-event runner gives the router as the session key). */
  readonly sessionHints: boolean;
  /** The gateway's `routing:` section for a policy (null: the gateway's defaults). */
  readonly routing: (policy: PolicyName) => RoutingSection;
  readonly log: (s: string) => void;
  /**
   * Gateway replicas behind a round-robin front (the driver sends request i to replica i mod N), and what their
   * configs add (the `state` section that connects them); default one gateway.
   */
  readonly front?: {
    readonly gateways: number;
    readonly extra: Record<string, unknown>;
    /**
     * Restarts the last replica once this share of the schedule has been sent, as a rolling deploy does: the front
     * stops sending it requests, waits for those it is answering, stops it (SIGTERM) and starts a new process with the
     * same config; the others take its share until the new one listens.
     */
    readonly restartAt?: number;
  };
}

/** CPU seconds the whole machine has been busy (all cores: /proc/stat minus idle and iowait); null off Linux. */
export function machineBusySeconds(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
    return (user + nice + system + irq + softirq + steal) / 100;
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function getJson(url: string): Promise<unknown> {
  const r = await fetch(url);
  return r.json();
}

export async function runSchedule(s: RunSettings, w: E2eWorkload, policy: PolicyName, schedule: readonly ScheduledRequest[]): Promise<RunData> {
  const started = performance.now();
  const T = s.sim.timeScale;
  const sims = await startSims(s.rt, s.replicas, s.sim);
  const children = sims.map((p) => p.child);
  try {
    const n = Math.max(1, s.front?.gateways ?? 1);
    const gws: GatewayProc[] = [];
    // One after another: a replica that starts loads the shared picture first, as in a rolling deployment.
    for (let g = 0; g < n; g++) gws.push(await startGateway(s.rt, s.tmp, policy, s.sim.model, sims, s.routing(policy), s.front?.extra, g));
    for (const g of gws) children.push(g.child);
    const gw = gws[0]!;
    // Let the gateway's first /metrics scrapes and /health probes land before traffic (same for every policy).
    await sleep(400);
    await Promise.all(sims.map((p) => getJson(`${p.statsUrl}/reset`)));

    const bodies = new Map<number, Buffer>();
    const bodyOf = (i: number): Buffer => {
      let b = bodies.get(i);
      if (!b) {
        const t = w.prompts[i];
        if (!t) throw new Error(`no prompt ${i}`);
        b = completionBody(s.sim.model, t.promptText, t.maxTokens ?? t.outputTokens, s.sessionHints ? `p${i}` : null);
        bodies.set(i, b);
      }
      return b;
    };
    // Bodies are serialised before the clock starts, so JSON.stringify of 30 kB prompts never delays a send.
    for (const r of schedule) bodyOf(r.prompt);

    const records: RequestRecord[] = [];
    const pending: Promise<void>[] = [];
    const lags: number[] = [];
    const cpuOf = (pid: number) => readCpuSeconds(pid) ?? 0;
    const simCpu = () => sims.reduce((a, p) => a + cpuOf(p.child.pid), 0);
    const driverCpu = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    };
    const gwCpu = () => gws.reduce((a, g) => a + cpuOf(g.child.pid), 0);
    let sent = 0;
    const alive = gws.map(() => true);
    /** Requests each replica is still answering: a restart waits for its own to finish, as a rolling deploy does. */
    const busy = gws.map(() => 0);
    let restarted = s.front?.restartAt === undefined || n < 2;
    const restart = async (): Promise<void> => {
      const k = n - 1;
      alive[k] = false;
      s.log(`  restarting gateway replica #${k} (out of the front; waiting for its ${busy[k]} requests)`);
      for (let waited = 0; (busy[k] as number) > 0 && waited < 60_000; waited += 20) await sleep(20);
      await stopChildren([(gws[k] as GatewayProc).child]);
      gws[k] = await startGateway(s.rt, s.tmp, policy, s.sim.model, sims, s.routing(policy), s.front?.extra, k);
      children.push((gws[k] as GatewayProc).child);
      alive[k] = true;
      s.log(`  replica #${k} is back`);
    };
    let restarting: Promise<void> = Promise.resolve();
    const pick = (): number => {
      let k = sent++ % n;
      while (!alive[k]) k = (k + 1) % n;
      return k;
    };
    const cpu0 = { gateway: gwCpu(), sims: simCpu(), driver: driverCpu(), machine: machineBusySeconds() };
    const t0 = performance.now();
    let next = 0;
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const now = performance.now() - t0;
        while (next < schedule.length && (schedule[next] as ScheduledRequest).atMs * T <= now + 0.5) {
          if (!restarted && next >= Math.floor(schedule.length * (s.front?.restartAt ?? 1))) {
            restarted = true;
            restarting = restart();
          }
          const r = schedule[next++] as ScheduledRequest;
          const sentAt = performance.now() - t0;
          const lag = Math.max(0, sentAt - r.atMs * T);
          lags.push(lag);
          const k = pick();
          busy[k] = (busy[k] as number) + 1;
          pending.push(
            streamCompletion((gws[k] ?? gw).url, bodyOf(r.prompt)).then((o) => {
              busy[k] = (busy[k] as number) - 1;
              records.push({ stage: r.stage, arrivalMs: sentAt / T, ttftMs: o.ttftRealMs / T, e2eMs: o.e2eRealMs / T, outcome: o, sendLagRealMs: lag });
            }),
          );
        }
        if (next >= schedule.length) return resolve();
        const wait = (schedule[next] as ScheduledRequest).atMs * T - (performance.now() - t0);
        setTimeout(tick, Math.max(0, wait - 0.5));
      };
      tick();
    });
    await Promise.all(pending);
    await restarting;
    const machine1 = machineBusySeconds();
    const used = { gateway: gwCpu() - cpu0.gateway, sims: simCpu() - cpu0.sims, driver: driverCpu() - cpu0.driver };
    const cpu = {
      ...used,
      realS: (performance.now() - t0) / 1000,
      // Everything else the machine did meanwhile: other people's jobs (and the kernel's share of our loopback traffic).
      others: machine1 !== null && cpu0.machine !== null ? Math.max(0, machine1 - cpu0.machine - used.gateway - used.sims - used.driver) : null,
    };
    // Counters summed over the replicas (their metrics pages concatenated).
    const pages = await Promise.all(gws.map((g) => gatewayCounters(g.url)));
    const gateway = pages.length === 1 ? (pages[0] as GatewayCounters) : { ...(pages[0] as GatewayCounters), text: pages.map((p) => p.text).join('\n') };
    if (pages.length > 1) {
      const sumOf = (k: 'retries' | 'ejections' | 'inFlightAfter' | 'queueWaits' | 'queueWaitSumS') => pages.reduce((a, p) => a + p[k], 0);
      Object.assign(gateway, { retries: sumOf('retries'), ejections: sumOf('ejections'), inFlightAfter: sumOf('inFlightAfter'), queueWaits: sumOf('queueWaits'), queueWaitSumS: sumOf('queueWaitSumS') });
    }
    const simLag = await Promise.all(
      sims.map(async (p): Promise<SimLag> => {
        const j = (await getJson(p.statsUrl)) as {
          calls: number;
          scheduledMs: number;
          lateMs: number;
          lateP50RealMs: number;
          lateP99RealMs: number;
          gauges: { steps: number; busyMs: number; prefixQueriesTokens: number; prefixHitsTokens: number; preemptions: number } | null;
        };
        return {
          calls: j.calls,
          slowdown: j.scheduledMs > 0 ? j.lateMs / j.scheduledMs : 0,
          lateP50RealMs: j.lateP50RealMs,
          lateP99RealMs: j.lateP99RealMs,
          steps: j.gauges?.steps ?? 0,
          busyMs: j.gauges?.busyMs ?? 0,
          prefixQueries: j.gauges?.prefixQueriesTokens ?? 0,
          prefixHits: j.gauges?.prefixHitsTokens ?? 0,
          preemptions: j.gauges?.preemptions ?? 0,
        };
      }),
    );
    return { policy, records, sims: simLag, wallMs: performance.now() - started, sendLagP99RealMs: percentile(lags, 99), cpu, gateway };
  } finally {
    await stopAllOf(children);
  }
}
