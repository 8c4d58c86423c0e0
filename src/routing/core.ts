import { systemClock, timerDelay, type Clock } from '../core/index.js';
import type { QueueOptions } from './gateway-queue.js';
import { LateBinding, type Queued, type QueuedHandle, type Timers, type Waiter } from './late-binding.js';
import { OutputEstimator } from './output-estimator.js';
import { createPoolMemory, isTokenAware, POLICIES, type Policy, type PoolMemory } from './policies/index.js';
import { DEFAULT_CHARS_PER_BLOCK } from './prefix/char-blocks.js';
import { RequestProfile } from './request-profile.js';
import { SessionKeyCache } from './prefix/session-key-cache.js';
import { mathRandom, type Rng } from './rng.js';
import { BackendState } from './state/backend-state.js';
import type { InFlight } from './state/in-flight.js';
import type { ReplicaSink } from './replica/exchange.js';
import type { KvEventsSource } from './kv-events/source.js';
import { Tracker, type TrackerOwner } from './tracker.js';
import { DEFAULT_ENGINE_PROFILE, type EngineProfile } from './twin-model.js';
import type { AttemptFailure, AttemptTracker, BackendTarget, PolicyName, PoolSpec, RouteRequest } from './types.js';

export type { QueuedHandle, Timers, Waiter } from './late-binding.js';

export const realTimers: Timers = {
  after(ms, fn) {
    const t = setTimeout(fn, timerDelay(ms));
    t.unref();
    return () => clearTimeout(t);
  },
};

export interface RoutingCoreOptions {
  readonly clock?: Clock;
  readonly rng?: Rng;
  readonly timers?: Timers;
  readonly profile?: EngineProfile;
  readonly charsPerBlock?: number;
  readonly queue?: QueueOptions;
  /** Replaces built-in policies by name (the benchmark's variants). */
  readonly policies?: Partial<Record<PolicyName, Policy>>;
  /** Called when an attempt ends (health accounting lives outside the core). */
  readonly onAttemptEnd?: (targetId: string, result: AttemptEnd) => void;
  /** Shares routed prefixes, load and session turns with other gateway replicas (replica/exchange.ts). */
  readonly replica?: ReplicaSink;
  /** Backend id → its engine's KV events (kv-events/), the ground truth for its prefix cache while live. */
  readonly kvEvents?: ReadonlyMap<string, KvEventsSource>;
  /**
   * Whether a backend may take a request now (health lives outside the core). A queued request is bound only to
   * candidates that still may: one ejected while it waited has capacity again precisely because it failed.
   */
  readonly usable?: (targetId: string) => boolean;
}

export type AttemptEnd = Parameters<AttemptTracker['end']>[0];


/** What `RouteRequest.routingMemo` holds: the profile made by one core for one policy. */
interface ProfileMemo {
  readonly core: RoutingCore;
  readonly profile: RequestProfile;
  readonly policy: Policy;
}

interface Reservation {
  readonly targetId: string;
  readonly record: InFlight;
  readonly at: number;
}

/** An unadopted reservation (plan without begin) is released after this long. */
const RESERVATION_TTL_MS = 10_000;

/**
 * The routing engine without I/O: per-backend state, the policies, the gateway queue. `plan` ranks candidates and
 * reserves the first one (so concurrent decisions see each other before any byte is sent); `begin` adopts the
 * reservation or dispatches to another candidate. The HTTP router and the discrete-event benchmark both drive this.
 */
export class RoutingCore {
  readonly clock: Clock;
  readonly rng: Rng;
  readonly profile: EngineProfile;
  readonly charsPerBlock: number;
  readonly #policies: Readonly<Record<PolicyName, Policy>>;
  readonly #onAttemptEnd: RoutingCoreOptions['onAttemptEnd'];
  readonly #replica: ReplicaSink | null;
  readonly #kvEvents: ReadonlyMap<string, KvEventsSource>;
  readonly #usable: ((targetId: string) => boolean) | null;
  readonly #states = new Map<string, BackendState>();
  readonly #memories = new Map<string, PoolMemory>();
  readonly #outputs = new Map<string, OutputEstimator>();
  readonly #late: LateBinding;
  readonly #reservations = new Map<RouteRequest, Reservation>();
  readonly #sessionKeys: SessionKeyCache;
  /** Shared by every tracker this core makes (none allocates callbacks of its own). */
  readonly #trackerOwner: TrackerOwner = {
    onSignal: () => this.pump(),
    onEnd: (t, result) => {
      const { req, record } = t;
      if (t.profile) this.#output(t.profile.pool).observe(req.maxTokens, result.completionTokens ?? record.decoded);
      if (result.ok && req.sessionKey) this.#rememberTurn(req.sessionKey, t.target.id, req.promptText.length, result.completionTokens ?? record.decoded);
      this.#onAttemptEnd?.(t.target.id, result);
    },
  };
  /** Last finished turn per session (bounded, oldest dropped): where it ran and what it generated. */
  readonly #turns = new Map<string, { backendId: string; promptChars: number; outputTokens: number }>();

  constructor(options: RoutingCoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.rng = options.rng ?? mathRandom;
    this.profile = options.profile ?? DEFAULT_ENGINE_PROFILE;
    this.charsPerBlock = options.charsPerBlock ?? DEFAULT_CHARS_PER_BLOCK;
    this.#policies = { ...POLICIES, ...options.policies };
    this.#onAttemptEnd = options.onAttemptEnd;
    this.#usable = options.usable ?? null;
    this.#late = new LateBinding({
      timers: options.timers ?? realTimers,
      queue: options.queue,
      canDispatch: (q) => {
        const candidates = this.#stillUsable(q.candidates);
        return candidates.length > 0 && !this.#allSaturated(this.#policies[q.pool.policy], candidates, q.profile, this.clock.now());
      },
      dispatch: (q) => this.#commit(q.pool, this.#stillUsable(q.candidates), q.req),
      // Backlog ahead spread over the backends at the engine profile's prefill rate.
      retryAfterSeconds: (tokens) => Math.max(1, Math.ceil((tokens * this.profile.perPrefillToken) / Math.max(1, this.#states.size) / 1000)),
    });
    this.#sessionKeys = new SessionKeyCache(10_000, this.charsPerBlock);
    this.#replica = options.replica ?? null;
    this.#kvEvents = options.kvEvents ?? new Map();
    this.#replica?.bind({
      stateById: (id) => this.#states.get(id),
      backendStates: () => this.#states.values(),
      applyTurn: (session, backendId, promptChars, outputTokens) => this.#storeTurn(session, backendId, promptChars, outputTokens),
      recentTurns: (max) => {
        const out: [string, string, number, number][] = [];
        let skip = this.#turns.size - max;
        for (const [session, t] of this.#turns) if (skip-- <= 0) out.push([session, t.backendId, t.promptChars, t.outputTokens]);
        return out;
      },
    });
  }

  get queued(): number {
    return this.#late.size;
  }

  policy(name: PolicyName): Policy {
    return this.#policies[name];
  }

  state(target: BackendTarget): BackendState {
    let s = this.#states.get(target.id);
    if (!s) {
      s = new BackendState(target, this.profile, this.charsPerBlock);
      this.#states.set(target.id, s);
      const kv = this.#kvEvents.get(target.id);
      if (kv) {
        const st = s;
        st.kv = kv;
        kv.capacityBlocks = () => st.kvCapacityTokens / st.engineBlockSize;
      }
    } else s.target = target;
    return s;
  }

  stateById(id: string): BackendState | undefined {
    return this.#states.get(id);
  }

  /** Drops state for backends no pool uses any more. */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.#states.keys()) if (!ids.has(id)) this.#states.delete(id);
  }

  /** Ranks without reserving: the pure decision, for tests and diagnostics. */
  rank(pool: PoolSpec, candidates: readonly BackendTarget[], req: RouteRequest): BackendTarget[] {
    // One candidate has one order: policies are pure, so ranking it would only cost time (no draw is spent on it).
    if (candidates.length === 1) return [candidates[0] as BackendTarget];
    const { profile, policy } = this.#profileOf(pool, req);
    const states = candidates.map((t) => this.state(t));
    const order = policy.rank(states, profile, { now: this.clock.now(), rng: this.rng, memory: this.#memory(pool.name) });
    return order.map((i) => candidates[i] as BackendTarget);
  }

  /**
   * Ranks and reserves the best candidate, or — when the policy binds late and every candidate is saturated —
   * queues the request and answers through `waiter`. Throws 429 when the queue is full.
   */
  plan(pool: PoolSpec, candidates: readonly BackendTarget[], req: RouteRequest, waiter: Waiter): BackendTarget[] | QueuedHandle {
    this.#sweepReservations();
    const { profile, policy } = this.#profileOf(pool, req);
    const now = this.clock.now();
    if (isTokenAware(policy) && candidates.length > 0 && (this.#late.hasQueued(pool.name) || this.#allSaturated(policy, candidates, profile, now))) {
      const q: Queued = { pool, candidates, req, profile, waiter, cancelTimer: () => {} };
      return this.#late.enqueue(q, now);
    }
    return this.#commit(pool, candidates, req);
  }

  begin(target: BackendTarget, req: RouteRequest): AttemptTracker {
    const res = this.#reservations.get(req);
    const memo = req.routingMemo as ProfileMemo | undefined;
    const known = memo !== undefined && memo.core === this ? memo : undefined;
    const state = this.state(target);
    let record: InFlight;
    if (res && res.targetId === target.id) {
      this.#reservations.delete(req);
      record = res.record;
    } else {
      // A failover attempt, or begin without plan: dispatch here now (and free the unused reservation).
      if (res) this.#release(req, res);
      record = this.#dispatch(state, known?.profile ?? this.#newProfile('', req), known?.policy ?? this.#policies.round_robin);
    }
    return new Tracker(target, req, state, record, known?.profile ?? null, this.clock, this.#trackerOwner);
  }

  /** Releases a plan's reservation when the request will not be sent (client gone, rejected later). */
  abandon(req: RouteRequest): void {
    const res = this.#reservations.get(req);
    if (res) this.#release(req, res);
  }

  /** Dispatches queued requests while some candidate has capacity; called on every capacity signal. */
  pump(): void {
    if (this.#late.size > 0) this.#late.pump();
  }

  #commit(pool: PoolSpec, candidates: readonly BackendTarget[], req: RouteRequest): BackendTarget[] {
    const order = this.rank(pool, candidates, req);
    const first = order[0];
    // A request planned again (a fallback model) holds at most one reservation: the earlier one is given back.
    const earlier = this.#reservations.get(req);
    if (earlier) this.#release(req, earlier);
    if (first) {
      const { profile, policy } = this.#profileOf(pool, req);
      const record = this.#dispatch(this.state(first), profile, policy);
      this.#reservations.set(req, { targetId: first.id, record, at: this.clock.now() });
    }
    return order;
  }

  /** A queued request's candidates less those that may not take it now (the array itself when all may). */
  #stillUsable(candidates: readonly BackendTarget[]): readonly BackendTarget[] {
    const usable = this.#usable;
    if (usable === null) return candidates;
    for (const t of candidates) if (!usable(t.id)) return candidates.filter((c) => usable(c.id));
    return candidates;
  }

  #allSaturated(policy: Policy, candidates: readonly BackendTarget[], profile: RequestProfile, now: number): boolean {
    if (!isTokenAware(policy)) return false;
    for (const t of candidates) if (!policy.saturated(this.state(t), profile, now)) return false;
    return true;
  }

  #dispatch(state: BackendState, profile: RequestProfile, policy: Policy): InFlight {
    const now = this.clock.now();
    const cached = Math.min(policy.predictCached(state, profile), profile.promptTokens - 1);
    const uncached = profile.promptTokens - Math.max(0, cached);
    const keys = policy.onDispatch(state, profile);
    if (keys) {
      state.twin();
      this.#replica?.routed(state.id, keys);
    }
    state.kv?.routed(profile, now);
    const record: InFlight = {
      promptTokens: profile.promptTokens,
      promptChars: profile.promptChars,
      cachedPred: Math.max(0, cached),
      uncached,
      prefillLeft: uncached,
      attnLeft: uncached * (Math.max(0, cached) + uncached / 2),
      expectedOutput: profile.expectedOutput,
      maxOutput: profile.req.maxTokens ?? Number.POSITIVE_INFINITY,
      decoded: 0,
      dispatchedAt: now,
      firstTokenAt: -1,
      lastTokenAt: -1,
      keys,
      reservedBlocks: 0,
      ended: false,
      calFrom: -1,
      calSteps: 0,
      calPredictedMs: 0,
      calBatch: 0,
    };
    state.dispatch(record, now);
    return record;
  }

  #release(req: RouteRequest, res: Reservation): void {
    this.#reservations.delete(req);
    const s = this.#states.get(res.targetId);
    if (s) s.end(res.record, this.clock.now(), null);
    this.pump();
  }

  #sweepReservations(): void {
    if (this.#reservations.size === 0) return;
    const cutoff = this.clock.now() - RESERVATION_TTL_MS;
    for (const [req, res] of this.#reservations) {
      if (res.at >= cutoff) break;
      this.#release(req, res);
    }
  }

  #profileOf(pool: PoolSpec, req: RouteRequest): ProfileMemo {
    const policy = this.#policies[pool.policy];
    let known = req.routingMemo as ProfileMemo | undefined;
    if (known === undefined || known.core !== this || known.policy !== policy) {
      known = { core: this, profile: this.#newProfile(pool.name, req), policy };
      req.routingMemo = known;
    }
    return known;
  }

  #newProfile(pool: string, req: RouteRequest): RequestProfile {
    const p = new RequestProfile(req, pool, this.#output(pool).expected(req.maxTokens), this.charsPerBlock, this.#sessionKeys);
    const last = req.sessionKey ? this.#turns.get(req.sessionKey) : undefined;
    if (last && req.promptText.length > last.promptChars) {
      p.continuation = { backendId: last.backendId, afterKeys: Math.floor(last.promptChars / this.charsPerBlock), outputTokens: last.outputTokens };
    }
    return p;
  }

  #rememberTurn(session: string, backendId: string, promptChars: number, outputTokens: number): void {
    this.#storeTurn(session, backendId, promptChars, outputTokens);
    this.#replica?.turn(session, backendId, promptChars, outputTokens);
  }

  #storeTurn(session: string, backendId: string, promptChars: number, outputTokens: number): void {
    this.#turns.delete(session);
    this.#turns.set(session, { backendId, promptChars, outputTokens });
    if (this.#turns.size > 100_000) {
      const oldest = this.#turns.keys().next();
      if (!oldest.done) this.#turns.delete(oldest.value);
    }
  }

  #memory(pool: string): PoolMemory {
    let m = this.#memories.get(pool);
    if (!m) this.#memories.set(pool, (m = createPoolMemory()));
    return m;
  }

  #output(pool: string): OutputEstimator {
    let o = this.#outputs.get(pool);
    if (!o) this.#outputs.set(pool, (o = new OutputEstimator()));
    return o;
  }
}

export type { AttemptFailure };
