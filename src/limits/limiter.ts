import { GatewayError, systemClock, type Clock } from '../core/index.js';
import { advance, freshBucket, msUntil, type BucketState } from './bucket.js';
import { rateLimitHeaders } from './headers.js';
import { createMemoryLimitStore, type LimitStore } from './memory-store.js';
import { createMemoryQuotaStore, type QuotaStore } from './quota-store.js';
import { createWindowCache, type QuotaPeriod } from './quota-windows.js';
import { describeRule, selectRules, stateKey, tokenCeilingOf, type CompiledLimitRule, type CompiledLimits, type CompiledQuotaRule, type LimitSubject } from './rules.js';
import { createPlanCache } from './plan-cache.js';
import { buildSnapshot, type LimitSnapshot, type SnapshotFilter } from './snapshot.js';
import { quotaExceeded, rateLimited, type RefusalKind } from './refusals.js';

export interface ReserveRequest extends LimitSubject {
  /** Prompt tokens + max_tokens (or the expected output): an upper bound, so settling usually refunds. */
  readonly estimatedTokens: number;
}

export interface Reservation {
  /** OpenAI's x-ratelimit-* headers as of the reservation; empty when no rpm/tpm rule applies. */
  readonly headers: Readonly<Record<string, string>>;
  readonly estimatedTokens: number;
  /**
   * Whether a token dimension (tokens per minute, a quota) holds this request: its output must then stay within what
   * was reserved for it, or concurrent requests could overrun the limit by whatever they generate beyond it.
   */
  readonly boundsTokens: boolean;
  /**
   * Charges the real usage (refunding or charging the difference against the estimate), releases the concurrency
   * slot and records quota usage. Call exactly once per request whatever its outcome (0 when nothing ran, the
   * partial count for an aborted stream); later calls are ignored.
   */
  settle(actualTokens: number): void;
}

export interface LimiterOptions {
  clock?: Clock;
  /** Keep the same store across config reloads so buckets survive them. */
  store?: LimitStore;
  quotaStore?: QuotaStore;
}

export interface Limiter {
  /**
   * Throws GatewayError 429 `rate_limit_exceeded` or `insufficient_quota`; otherwise takes the capacity. The
   * x-ratelimit-* headers are written into `into` when given (the response's headers), else into a new object.
   * A limiter whose state is shared (leases) answers synchronously while its leases cover the request and returns a
   * promise only when it must wait for the authority (a rejected promise carries the same errors).
   */
  reserve(request: ReserveRequest, into?: Record<string, string>): Reservation | Promise<Reservation>;
  /**
   * Admits the same request on a fallback model (`request.model`) inside `reservation`: only the rules it does not
   * already hold are checked and charged, so a rule both models share (the caller's own rpm, tpm, concurrency or
   * quota) counts the request once. Throws (or rejects with) the refusal like `reserve`, leaving `reservation` as it
   * was. From then on the tokens settled are charged to the fallback's rules and the shared ones; the rules only
   * the models tried before hold get their tokens back.
   */
  extend(reservation: Reservation, request: LimitSubject): void | Promise<void>;
  snapshot(filter: SnapshotFilter): LimitSnapshot;
  /**
   * The most tokens one request of this caller could ever be reserved: the smallest tokens-per-minute cap and quota
   * (per day or month) that apply to it, Infinity when none does. A figure of the config, not of what is left.
   */
  tokenCeiling(who: LimitSubject): number;
}

/** The single-process limiter: every decision is synchronous. */
export interface LocalLimiter extends Limiter {
  reserve(request: ReserveRequest, into?: Record<string, string>): Reservation;
  extend(reservation: Reservation, request: LimitSubject): void;
  readonly store: LimitStore;
  readonly quotaStore: QuotaStore;
}

// Concurrency has no refill to compute a wait from; a short retry is the honest hint.
const CONCURRENCY_RETRY_MS = 1000;

interface Held {
  readonly key: string;
  readonly rule: CompiledLimitRule;
}

interface HeldQuota {
  readonly key: string;
  readonly window: string;
}

/**
 * A reservation's rules by layer: 0 for the model first asked for, one more for each fallback model admitted. At
 * settle, only the last layer (the model that answered, and the rules it shares with earlier ones) is charged the
 * tokens; every rule still releases its concurrency slot and keeps its request.
 *
 * Until a fallback extends it, a reservation holds its plan's own frozen rules and no layers (all are layer 0):
 * admitting a request allocates this one object, not an entry per rule, a closure and a WeakMap entry.
 */
class LocalReservation implements Reservation {
  held: readonly Held[];
  /** Layer of each of `held`; null while all are 0. */
  heldLayers: number[] | null = null;
  quotas: readonly HeldQuota[];
  quotaLayers: number[] | null = null;
  layer = 0;
  settled = false;

  constructor(
    /** The limiter that made it: settles it, and alone may extend it. */
    readonly owner: { settle(r: LocalReservation, actualTokens: number): void },
    readonly headers: Readonly<Record<string, string>>,
    readonly estimatedTokens: number,
    held: readonly Held[],
    quotas: readonly HeldQuota[],
  ) {
    this.held = held;
    this.quotas = quotas;
  }

  get boundsTokens(): boolean {
    if (this.quotas.length > 0) return true;
    for (const h of this.held) if (h.rule.tpm !== null) return true;
    return false;
  }

  settle(actualTokens: number): void {
    this.owner.settle(this, actualTokens);
  }
}

interface Refusal {
  readonly kind: 'too_large' | 'tokens' | 'requests' | 'concurrency';
  /** Milliseconds until the request could pass; null when it never can. */
  readonly wait: number | null;
  readonly rule: CompiledLimitRule;
  readonly level: number;
}

function longer(a: Refusal | null, b: Refusal): Refusal {
  if (!a) return b;
  if (a.wait === null) return a;
  return b.wait === null || b.wait > a.wait ? b : a;
}

function refusalMessage(r: Refusal, req: LimitSubject, estimate: number): string {
  const who = describeRule(r.rule, req);
  const wait = r.wait === null ? '' : fmtWait(r.wait);
  switch (r.kind) {
    case 'too_large':
      return `Request too large for ${who}: it needs up to ${estimate} tokens but the limit is ${r.rule.tpm} tokens per minute. Lower max_tokens or shorten the prompt.`;
    case 'tokens':
      return `Rate limit reached for tokens per minute (${who}): limit ${r.rule.tpm}, remaining ${Math.max(0, Math.floor(r.level))}, requested ${estimate}. Please try again in ${wait}.`;
    case 'requests':
      return `Rate limit reached for requests per minute (${who}): limit ${r.rule.rpm}. Please try again in ${wait}.`;
    case 'concurrency':
      return `Too many concurrent requests (${who}): limit ${r.rule.concurrency}. Please retry when one finishes.`;
  }
}

function fmtWait(ms: number): string {
  return ms < 1000 ? `${Math.ceil(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

const NO_QUOTAS: readonly HeldQuota[] = Object.freeze([]);

/** The rules that apply to one (subject, team, model) and their state keys: fixed for a config, so computed once. */
interface Plan {
  readonly limits: readonly Held[];
  readonly quotas: readonly { readonly rule: CompiledQuotaRule; readonly key: string }[];
  /** `Limiter.tokenCeiling` for this caller. */
  readonly ceiling: number;
}

const buildPlan = (rules: CompiledLimits) => (who: LimitSubject): Plan => {
  const limits = selectRules(rules.limits, who);
  const quotas = selectRules(rules.quotas, who);
  return Object.freeze({
    limits: Object.freeze(limits.map((rule) => Object.freeze({ rule, key: stateKey(rule, who) }))),
    quotas: Object.freeze(quotas.map((rule) => Object.freeze({ rule, key: stateKey(rule, who) }))),
    ceiling: tokenCeilingOf(limits, quotas),
  });
};

/**
 * RPM / TPM / concurrency buckets plus token quotas, decided in one synchronous step: every bucket is checked first
 * and only then are all of them charged, so a reservation is all-or-nothing and concurrent requests (interleaved on
 * the event loop) can never overrun a limit; the only overrun possible is a request using more than it reserved.
 */
export function createLimiter(rules: CompiledLimits, options: LimiterOptions = {}): LocalLimiter {
  const clock = options.clock ?? systemClock;
  const store = options.store ?? createMemoryLimitStore();
  const quotaStore = options.quotaStore ?? createMemoryQuotaStore();
  // Tokens reserved against quotas by requests in flight; in memory only, as they die with the process.
  const reserved = new Map<string, number>();
  const reservedKey = (q: HeldQuota) => `${q.window}\u0000${q.key}`;
  const windowOf = createWindowCache();
  const plans = createPlanCache(buildPlan(rules));

  function checkQuotas(quotaPlan: Plan['quotas'], req: LimitSubject, estimate: number, wallMs: number, states: readonly BucketState[]): HeldQuota[] {
    const held: HeldQuota[] = [];
    // The first quota that refuses is reported; the least any of them has left rides with it.
    let refused: (() => string) | null = null;
    let resetsAtMs = 0;
    let least = Number.POSITIVE_INFINITY;
    for (const { rule, key } of quotaPlan) {
      for (const period of ['day', 'month'] as const) {
        const limit = period === 'day' ? rule.perDay : rule.perMonth;
        if (limit === null) continue;
        const w = windowOf(period, wallMs);
        const q = { key, window: w.id };
        const used = quotaStore.used(key, w.id) + (reserved.get(reservedKey(q)) ?? 0);
        const left = Math.max(0, limit - used);
        if (left < least) least = left;
        if (used + estimate > limit && refused === null) {
          refused = () => `You exceeded your token quota for ${describeRule(rule, req)}: ${limit} tokens per ${period}, ${left} left, this request needs up to ${estimate}.`;
          resetsAtMs = w.resetsAtMs;
        }
        held.push(q);
      }
    }
    if (refused !== null) throw quotaExceeded(refused(), resetsAtMs, wallMs, rateLimitHeaders(states), least);
    return held;
  }

  /**
   * Checks `limits` and `quotas` for one request and charges them all, or throws the refusal and charges nothing.
   * Quotas first: when both refuse, the quota is the reason that will not go away by waiting a minute.
   */
  function admit(req: ReserveRequest, limits: readonly Held[], quotaPlan: Plan['quotas'], estimate: number, states: BucketState[]): readonly HeldQuota[] {
    const now = clock.now();
    for (let i = 0; i < limits.length; i++) {
      const { key, rule } = limits[i]!;
      const state = store.get(key) ?? freshBucket(rule.rpm, rule.tpm, now);
      advance(state, rule.rpm, rule.tpm, now);
      states[i] = state;
    }
    const quotas = quotaPlan.length === 0 ? NO_QUOTAS : checkQuotas(quotaPlan, req, estimate, clock.wallMs(), states);

    // Decide before charging anything: a refused request leaves every bucket untouched. When several buckets
    // refuse, report the one with the longest wait (a request too large for a limit waits forever). Messages are
    // built only for the refusal reported, so admitting a request allocates no text.
    let refusal: Refusal | null = null;
    for (let i = 0; i < limits.length; i++) {
      const { rule } = limits[i]!;
      const s = states[i]!;
      let r: Refusal | null = null;
      if (rule.tpm !== null && estimate > rule.tpm) r = { kind: 'too_large', wait: null, rule, level: s.tokens };
      else if (rule.tpm !== null && s.tokens < estimate) r = { kind: 'tokens', wait: msUntil(s.tokens, estimate, rule.tpm), rule, level: s.tokens };
      if (rule.rpm !== null && s.requests < 1) r = longer(r, { kind: 'requests', wait: msUntil(s.requests, 1, rule.rpm), rule, level: s.requests });
      if (rule.concurrency !== null && s.inFlight >= rule.concurrency) r = longer(r, { kind: 'concurrency', wait: CONCURRENCY_RETRY_MS, rule, level: s.inFlight });
      if (r) refusal = longer(refusal, r);
    }
    if (refusal) {
      const kind: RefusalKind = refusal.kind === 'too_large' ? 'tokens' : refusal.kind;
      throw rateLimited(refusalMessage(refusal, req, estimate), refusal.wait, rateLimitHeaders(states), kind);
    }

    for (let i = 0; i < limits.length; i++) {
      const { key, rule } = limits[i]!;
      const s = states[i]!;
      if (rule.rpm !== null) s.requests -= 1;
      if (rule.tpm !== null) s.tokens -= estimate;
      s.inFlight += 1;
      store.set(key, s, now);
    }
    for (const q of quotas) reserved.set(reservedKey(q), (reserved.get(reservedKey(q)) ?? 0) + estimate);
    return quotas;
  }

  /** The limiter's side of LocalReservation.settle: once per reservation, later calls ignored. */
  const owner = {
    settle(r: LocalReservation, actualTokens: number): void {
      if (r.settled) return;
      r.settled = true;
      const estimate = r.estimatedTokens;
      const actual = Number.isFinite(actualTokens) ? Math.max(0, Math.ceil(actualTokens)) : estimate;
      const t = clock.now();
      // Rules of models tried before the one that answered (not shared with it) get their tokens back.
      for (let i = 0; i < r.held.length; i++) {
        const { key, rule } = r.held[i]!;
        const layer = r.heldLayers === null ? 0 : r.heldLayers[i]!;
        const s = store.get(key);
        if (!s) continue; // evicted under memory pressure: nothing left to refund
        advance(s, rule.rpm, rule.tpm, t);
        if (rule.tpm !== null) s.tokens = Math.min(rule.tpm, s.tokens + estimate - (layer === r.layer ? actual : 0));
        s.inFlight = Math.max(0, s.inFlight - 1);
        store.set(key, s, t);
      }
      for (let i = 0; i < r.quotas.length; i++) {
        const q = r.quotas[i]!;
        const layer = r.quotaLayers === null ? 0 : r.quotaLayers[i]!;
        const left = (reserved.get(reservedKey(q)) ?? 0) - estimate;
        if (left > 0) reserved.set(reservedKey(q), left);
        else reserved.delete(reservedKey(q));
        // Charged to the window the request started in, so a request crossing midnight counts where it was admitted.
        if (actual > 0 && layer === r.layer) quotaStore.add(q.key, q.window, actual);
      }
    },
  };

  function reserve(req: ReserveRequest, into?: Record<string, string>): Reservation {
    const estimate = Number.isFinite(req.estimatedTokens) ? Math.max(0, Math.ceil(req.estimatedTokens)) : 0;
    const plan = plans.get(req);
    const states: BucketState[] = new Array(plan.limits.length);
    const quotas = admit(req, plan.limits, plan.quotas, estimate, states);
    return new LocalReservation(owner, rateLimitHeaders(states, into), estimate, plan.limits, quotas);
  }

  function extend(reservation: Reservation, req: LimitSubject): void {
    if (!(reservation instanceof LocalReservation) || reservation.owner !== owner || reservation.settled) {
      throw new Error('extend: not a live reservation of this limiter');
    }
    const r = reservation;
    const plan = plans.get(req);
    const fresh = plan.limits.filter((h) => !r.held.some((e) => e.key === h.key));
    const freshQuotas = plan.quotas.filter((p) => !r.quotas.some((e) => e.key === p.key));
    const quotas = admit({ ...req, estimatedTokens: r.estimatedTokens }, fresh, freshQuotas, r.estimatedTokens, new Array(fresh.length));
    const layer = ++r.layer;
    // From here the reservation has rules of its own: copies of the plan's arrays, with a layer per rule.
    const held = [...r.held];
    const heldLayers = r.heldLayers ?? held.map(() => 0);
    const heldQuotas = [...r.quotas];
    const quotaLayers = r.quotaLayers ?? heldQuotas.map(() => 0);
    // Rules both models share are charged once and now settle with the fallback's tokens.
    for (let i = 0; i < held.length; i++) if (plan.limits.some((h) => h.key === held[i]!.key)) heldLayers[i] = layer;
    for (let i = 0; i < heldQuotas.length; i++) if (plan.quotas.some((p) => p.key === heldQuotas[i]!.key)) quotaLayers[i] = layer;
    for (const h of fresh) {
      held.push(h);
      heldLayers.push(layer);
    }
    for (const q of quotas) {
      heldQuotas.push(q);
      quotaLayers.push(layer);
    }
    r.held = held;
    r.heldLayers = heldLayers;
    r.quotas = heldQuotas;
    r.quotaLayers = quotaLayers;
  }

  return {
    reserve,
    extend,
    store,
    quotaStore,
    tokenCeiling: (who) => plans.get(who).ceiling,
    snapshot: (filter) => buildSnapshot({ rules, store, quotaStore, reserved: (key, window) => reserved.get(`${window}\u0000${key}`) ?? 0, clock, filter }),
  };
}
