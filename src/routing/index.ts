import { GatewayError, systemClock, type Clock } from '../core/index.js';
import type { AttemptTracker, BackendTarget, PolicyName, RouteRequest } from './types.js';

export type { AttemptFailure, AttemptTracker, BackendTarget, PolicyName, RouteRequest } from './types.js';

export interface PoolSpec {
  readonly name: string;
  readonly policy: PolicyName;
  readonly targets: readonly BackendTarget[];
}

export interface Router {
  /**
   * Ordered candidates, best first. Ejected backends are left out unless every backend is ejected, in which case
   * they are tried anyway (a pool that is entirely down is better probed than refused).
   */
  plan(pool: PoolSpec, req: RouteRequest, signal?: AbortSignal): BackendTarget[] | Promise<BackendTarget[]>;
  begin(target: BackendTarget, req: RouteRequest): AttemptTracker;
  isHealthy(id: string): boolean;
  setPools(pools: readonly PoolSpec[]): void;
  close(): void;
}

export interface RouterOptions {
  clock?: Clock;
  /** Passive ejection: consecutive failures before a backend is ejected. */
  ejectAfter?: number;
  baseEjectMs?: number;
  maxEjectMs?: number;
}

interface BackendState {
  inFlight: number;
  consecutiveFailures: number;
  ejectedUntil: number;
  ejections: number;
}

export function createRouter(options: RouterOptions = {}): Router {
  const clock = options.clock ?? systemClock;
  const ejectAfter = options.ejectAfter ?? 3;
  const baseEjectMs = options.baseEjectMs ?? 1000;
  const maxEjectMs = options.maxEjectMs ?? 30_000;
  const states = new Map<string, BackendState>();
  const rrCounters = new Map<string, number>();

  const stateOf = (id: string): BackendState => {
    let s = states.get(id);
    if (!s) {
      s = { inFlight: 0, consecutiveFailures: 0, ejectedUntil: 0, ejections: 0 };
      states.set(id, s);
    }
    return s;
  };
  const healthy = (id: string): boolean => stateOf(id).ejectedUntil <= clock.now();

  function rotate(targets: readonly BackendTarget[], start: number): BackendTarget[] {
    const out: BackendTarget[] = [];
    for (let i = 0; i < targets.length; i++) out.push(targets[(start + i) % targets.length]!);
    return out;
  }

  function order(pool: PoolSpec, candidates: readonly BackendTarget[]): BackendTarget[] {
    const n = candidates.length;
    if (n <= 1) return candidates.slice();
    const counter = rrCounters.get(pool.name) ?? 0;
    rrCounters.set(pool.name, counter + 1);
    switch (pool.policy) {
      case 'random':
        return rotate(candidates, Math.floor(Math.random() * n));
      case 'weighted': {
        let total = 0;
        for (const t of candidates) total += t.weight;
        let r = Math.random() * total;
        let pick = 0;
        for (let i = 0; i < n; i++) {
          r -= candidates[i]!.weight;
          if (r < 0) {
            pick = i;
            break;
          }
        }
        return rotate(candidates, pick);
      }
      case 'round_robin':
        return rotate(candidates, counter % n);
      default: {
        // Least in-flight requests, ties broken by rotation so equal backends share load.
        const rotated = rotate(candidates, counter % n);
        return rotated.sort((a, b) => stateOf(a.id).inFlight - stateOf(b.id).inFlight);
      }
    }
  }

  return {
    plan(pool) {
      if (pool.targets.length === 0) throw new GatewayError('no_healthy_backend', `Model "${pool.name}" has no backends.`);
      const live = pool.targets.filter((t) => healthy(t.id));
      return order(pool, live.length > 0 ? live : pool.targets);
    },
    begin(target) {
      const s = stateOf(target.id);
      s.inFlight++;
      let ended = false;
      return {
        firstToken() {},
        tokens() {},
        end(result) {
          if (ended) return;
          ended = true;
          s.inFlight--;
          if (result.ok || result.failure === 'status_429') {
            s.consecutiveFailures = 0;
            if (result.ok) s.ejections = 0;
            return;
          }
          s.consecutiveFailures++;
          if (result.failure === 'connect' || s.consecutiveFailures >= ejectAfter) {
            const backoff = Math.min(maxEjectMs, baseEjectMs * 2 ** s.ejections);
            s.ejections++;
            s.ejectedUntil = clock.now() + backoff;
          }
        },
      };
    },
    isHealthy: healthy,
    setPools(pools) {
      const live = new Set<string>();
      for (const p of pools) for (const t of p.targets) live.add(t.id);
      for (const id of states.keys()) if (!live.has(id)) states.delete(id);
    },
    close() {},
  };
}
