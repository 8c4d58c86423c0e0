import { LeaseCounter } from './lease-counter.js';
import type { CounterSpec, ExchangeReply, Transport } from './types.js';

export type LeaseMode = 'shared' | 'fallback';

export interface LeaseClientOptions {
  transport: Transport;
  /** This process's name at the authority (unique per process and stable for its life). */
  holder: string;
  /** Background exchange period: returns, top-ups, usage reports and lease renewals. */
  syncMs: number;
  /**
   * While the authority is unreachable: `share` lets this process use its share (1 / replicas) of what the
   * authority last said was left of each limit (so the fleet stays within the limit), `refuse` refuses what the
   * leases already held cannot cover. Null: no fallback (the supervisor transport: a worker whose supervisor is gone is stopping anyway).
   */
  fallback: { mode: 'share'; share: number } | { mode: 'refuse' } | null;
  /** Each transition between the shared authority and the fallback (for a log line and a metric). */
  onMode?: (mode: LeaseMode, err?: unknown) => void;
  /**
   * How long after the authority became unreachable requests still wait for it to come back (refuse mode only;
   * `share` answers from the local share at once). Default: ten sync intervals, at least one second.
   */
  bridgeMs?: number;
  /**
   * The authority's lease TTL: counters idle here are re-declared well within it (every ten sync intervals, or more
   * often when that is longer than half the TTL), or the authority would take this live process for a new one and
   * charge its recent use again. Default: 5 s.
   */
  leaseTtlMs?: number;
  now?: () => number;
}

export interface LeaseClient {
  /**
   * The counter for a spec (created on first use; a changed capacity applies from now). `generation`: that of the
   * limiter asking (`generation()`); a spec from an older one (a config or key set since replaced, still used by the
   * requests it admitted) never replaces the spec a newer one set.
   */
  counter(spec: CounterSpec, generation?: number): LeaseCounter;
  /** A new limiter's generation: higher than every one handed out before. */
  generation(): number;
  /**
   * Leases at least `n` more units for each counter given (one round trip for all of them, joined with any exchange
   * already due). Resolves when the authority has answered; the caller then retries its local reservation. Resolves
   * true when the authority refused for now but other holders hold spare units it is recalling: ask again after
   * `retryDelayMs` (they return them at their next exchange).
   */
  acquire(counters: readonly LeaseCounter[], needs: readonly number[]): Promise<boolean>;
  readonly retryDelayMs: number;
  /**
   * Whether a request the authority could not serve right now should keep waiting (asking again every
   * `retryDelayMs`) rather than be refused, because the refusal says nothing about the limit: the authority is
   * re-seeding after it lost its data (until that period ends), or it has just become unreachable with no local
   * fallback to answer for it (a reconnect usually follows within a moment; bounded by `bridgeMs`).
   */
  holding(): boolean;
  readonly mode: LeaseMode;
  /** What the fallback does while the authority is unreachable (`share` grants this process its share). */
  readonly fallbackKind: 'share' | 'refuse' | null;
  counters(): IterableIterator<LeaseCounter>;
  /** Exchanges performed and failed (for the benchmarks and metrics). */
  readonly stats: { exchanges: number; failures: number };
  /** Reports usage and returns every unused unit, then stops. */
  close(): Promise<void>;
}

/**
 * A process's side of the lease protocol. Requests reserve from local leases synchronously; only a shortfall waits
 * for the authority, and shortfalls arriving together share one exchange. A timer every `syncMs` reports settled
 * usage, returns spare units beyond the slice recent use calls for (all of them when the authority says capacity is
 * scarce) and renews leases, so a process that dies loses its leases only after the authority's lease TTL.
 */
export function createLeaseClient(options: LeaseClientOptions): LeaseClient {
  const now = options.now ?? (() => performance.now());
  const byKey = new Map<string, LeaseCounter>();
  const due = new Set<LeaseCounter>();
  let waiters: Array<(recall: boolean) => void> = [];
  let running: Promise<void> | null = null;
  let mode: LeaseMode = 'shared';
  let closed = false;
  const stats = { exchanges: 0, failures: 0 };
  const syncMs = options.syncMs;
  const bridgeMs = options.bridgeMs ?? Math.max(1000, 10 * syncMs);
  /** When the authority's re-seeding period ends (this process's clock), and when the current outage began. */
  let settlingUntil = 0;
  let unreachableSince: number | null = null;

  async function exchangeOnce(batch: LeaseCounter[]): Promise<boolean> {
    const t = now();
    // Units granted by the fallback are owed to the authority once it is back (withheld if it is still away).
    const items = batch.map((c) => c.withFallbackDebt(c.prepare(t, syncMs)));
    let replies: readonly ExchangeReply[];
    try {
      replies = await options.transport.exchange(options.holder, items);
      unreachableSince = null;
      for (const c of batch) c.endFallback();
      if (mode === 'fallback') {
        mode = 'shared';
        options.onMode?.('shared');
      }
    } catch (err) {
      stats.failures++;
      unreachableSince ??= t;
      if (mode === 'shared') {
        mode = 'fallback';
        options.onMode?.('fallback', err);
      }
      const f = options.fallback;
      if (f?.mode === 'share') {
        replies = items.map((it, i) => batch[i]!.fallbackGrant(it, f.share));
      } else {
        // Refuse mode (or no fallback): keep the usage to report later; only what the leases already hold is served.
        for (let i = 0; i < batch.length; i++) batch[i]!.restore(items[i]!);
        return false;
      }
    }
    stats.exchanges++;
    const t2 = now();
    let recall = false;
    for (let i = 0; i < batch.length; i++) {
      const c = batch[i]!;
      c.apply(replies[i]!, items[i]!.need, t2, syncMs);
      if (replies[i]!.retry) recall = true;
    }
    if (replies[0]?.settling) {
      redeclare = true;
      // Plus two exchanges: the first grants after the period have to reach the waiting requests.
      settlingUntil = Math.max(settlingUntil, t2 + (replies[0].settleLeftMs ?? syncMs) + 2 * syncMs);
    }
    return recall;
  }

  /**
   * One exchange at a time per process; needs that arrive meanwhile ride on the next one. `probe`: exchange even with
   * nothing due (an empty batch), to learn whether the authority is back.
   */
  function kick(probe = false): Promise<void> {
    if (running) return running;
    running = (async () => {
      try {
        while ((due.size > 0 || probe) && !closed) {
          probe = false;
          const batch = [...due];
          due.clear();
          const wake = waiters;
          waiters = [];
          const recall = await exchangeOnce(batch);
          for (const w of wake) w(recall);
        }
      } finally {
        running = null;
        const rest = waiters;
        waiters = [];
        for (const w of rest) w(false);
      }
    })();
    return running;
  }

  let generations = 0;
  let tick = 0;
  let redeclare = false;
  const redeclareTicks = Math.max(1, Math.min(10, Math.floor((options.leaseTtlMs ?? 5000) / (2 * syncMs))));
  const timer = setInterval(() => {
    const t = now();
    // Counters this process used recently (quota usage in the window, rate use not yet refilled) are re-declared
    // now and then even when idle (within half the lease TTL, so the authority never expires a live process and
    // charges its use again), and at once when the authority says it is being re-seeded: a Redis that lost its data
    // learns every holder's share of the usage within one lease TTL.
    const every = ++tick % redeclareTicks === 0 || redeclare;
    redeclare = false;
    for (const [key, c] of byKey) {
      if (c.idle()) {
        if (t > c.endsAt || (c.history < 1 && t - c.lastActive > 10 * syncMs)) {
          byKey.delete(key);
          c.retired = true;
        } else if (c.history >= 1 && every) due.add(c);
        continue;
      }
      c.lastActive = t;
      due.add(c);
    }
    if (due.size > 0) void kick();
    // A process with nothing to exchange would otherwise stay on the fallback (infergate_state_shared 0, no
    // state_reconnected) until its next request, however long the authority has been back: ask it now and then.
    else if (mode === 'fallback' && every) void kick(true);
  }, syncMs);
  timer.unref();

  return {
    counter(spec, generation = 0) {
      let c = byKey.get(spec.key);
      if (!c) byKey.set(spec.key, (c = new LeaseCounter(spec, now())));
      else if (c.spec === spec || generation < c.generation) return c;
      c.spec = spec;
      c.generation = generation;
      return c;
    },
    generation: () => ++generations,
    acquire(counters, needs) {
      const p = new Promise<boolean>((resolve) => waiters.push(resolve));
      const t = now();
      for (let i = 0; i < counters.length; i++) {
        const c = counters[i]!;
        c.need += needs[i]!;
        if (needs[i]! < c.min) c.min = needs[i]!;
        c.lastActive = t;
        due.add(c);
      }
      void kick();
      return p;
    },
    retryDelayMs: syncMs / 2,
    holding() {
      const t = now();
      if (t < settlingUntil) return true;
      return unreachableSince !== null && options.fallback?.mode !== 'share' && t - unreachableSince < bridgeMs;
    },
    get mode() {
      return mode;
    },
    fallbackKind: options.fallback?.mode ?? null,
    counters: () => byKey.values(),
    stats,
    async close() {
      clearInterval(timer);
      while (running) await running;
      // Final report: every settled unit and every spare unit goes back.
      const batch = [...byKey.values()].filter((c) => !c.idle());
      for (const c of batch) c.scarceUntil = Number.POSITIVE_INFINITY;
      if (batch.length > 0) await exchangeOnce(batch).catch(() => {});
      closed = true;
      await options.transport.close();
    },
  };
}
