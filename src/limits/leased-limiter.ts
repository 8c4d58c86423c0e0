import { formatResetDuration, GatewayError, systemClock, type Clock } from '../core/index.js';
import type { CounterSpec, LeaseClient, LeaseCounter } from '../state/index.js';
import { WINDOW_MS } from './bucket.js';
import type { Limiter, Reservation, ReserveRequest } from './limiter.js';
import { markRefusal, quotaExceeded, rateLimited } from './refusals.js';
import { createPlanCache } from './plan-cache.js';
import { createWindowCache, type QuotaPeriod } from './quota-windows.js';
import { describeRule, selectRules, stateKey, tokenCeilingOf, type CompiledLimitRule, type CompiledLimits, type CompiledQuotaRule, type LimitSubject } from './rules.js';
import { leasedSnapshot } from './leased-snapshot.js';

/** What one counter charges per request: one unit (rpm, a concurrency slot) or the token estimate (tpm, quotas). */
const enum Unit {
  One,
  Tokens,
}

interface Item {
  counter: LeaseCounter;
  readonly unit: Unit;
  readonly dim: 'requests' | 'tokens' | 'concurrency' | 'quota';
  /** Units a settled request used: rpm keeps its unit, a concurrency slot comes back, tokens are the real count. */
  readonly rule: CompiledLimitRule | CompiledQuotaRule;
  readonly period: QuotaPeriod | null;
  /** Quota counters are per window: the window id and end this counter was made for. */
  window: string;
  resetsAtMs: number;
  readonly stateKey: string;
  /** The limit as header text (converted once). */
  readonly capText: string;
}

/**
 * A reservation's counters by layer (see Limiter.extend): only the last layer is charged the settled tokens. One
 * object per request: the items' ids are worked out only when a fallback extends it, and until then every counter
 * is at layer 0 (no per-item entries, closure or WeakMap entry on the hot path).
 */
class LeasedReservation implements Reservation {
  items: readonly Item[];
  /** The counters as taken (a quota item moves to the next window's counter at midnight; this request stays put). */
  counters: LeaseCounter[];
  /** Layer of each counter; null while all are 0. */
  layers: number[] | null = null;
  layer = 0;
  settled = false;

  constructor(
    /** The limiter that made it: settles it, and alone may extend it. */
    readonly owner: { settle(r: LeasedReservation, actualTokens: number): void },
    readonly headers: Readonly<Record<string, string>>,
    readonly estimatedTokens: number,
    items: readonly Item[],
  ) {
    this.items = items;
    this.counters = items.map((item) => item.counter);
  }

  get boundsTokens(): boolean {
    for (const item of this.items) if (item.dim === 'tokens' || item.dim === 'quota') return true;
    return false;
  }

  settle(actualTokens: number): void {
    this.owner.settle(this, actualTokens);
  }
}

/** Which rule and dimension an item stands for: equal for two models exactly when they share the rule's state. */
const itemId = (i: Item): string => `${i.stateKey}|${i.dim}|${i.period ?? ''}`;

interface Plan {
  readonly items: Item[];
  readonly tpmCap: number;
  /** `Limiter.tokenCeiling` for this caller (tpm caps and quotas). */
  readonly ceiling: number;
  readonly rpmItems: readonly Item[];
  readonly tpmItems: readonly Item[];
}

export interface LeasedLimiterOptions {
  leases: LeaseClient;
  clock?: Clock;
  /** How many times a request whose units were taken by newer requests asks again before it is refused. */
  recallAttempts?: number;
}

const counterSpec = (key: string, kind: CounterSpec['kind'], cap: number, windowMs: number, quota?: CounterSpec['quota']): CounterSpec =>
  Object.freeze(quota ? { key, kind, cap, windowMs, quota } : { key, kind, cap, windowMs });

/**
 * Rate limits, concurrency and quotas shared by many processes through leases (state/): a request reserves from
 * this process's leases synchronously, with no I/O and no allocation beyond its reservation; only when a lease
 * runs short does it wait for one exchange with the authority (shortfalls arriving together share it). Because the
 * authority never leases out more than a counter's capacity, the limit holds across every process exactly as it
 * does in one: the only overrun possible is a request using more tokens than it reserved.
 */
export function createLeasedLimiter(rules: CompiledLimits, options: LeasedLimiterOptions): Limiter {
  const clock = options.clock ?? systemClock;
  const leases = options.leases;
  const windowOf = createWindowCache();
  const attempts = options.recallAttempts ?? 8;
  // Limiters are rebuilt on every reload and key change while requests admitted by the previous one still run (and
  // may fall back, building plans here): the counters take the newest limiter's limits, never an older one's.
  const generation = leases.generation();

  const plans = createPlanCache((who): Plan => {
    const items: Item[] = [];
    let tpmCap = Number.POSITIVE_INFINITY;
    const limitRules = selectRules(rules.limits, who);
    const quotaRules = selectRules(rules.quotas, who);
    for (const rule of limitRules) {
      const key = stateKey(rule, who);
      const base = { rule, period: null, window: '', resetsAtMs: 0, stateKey: key };
      if (rule.rpm !== null) {
        items.push({ ...base, capText: String(rule.rpm), unit: Unit.One, dim: 'requests', counter: leases.counter(counterSpec(`${key}|r`, 'rate', rule.rpm, WINDOW_MS), generation) });
      }
      if (rule.tpm !== null) {
        tpmCap = Math.min(tpmCap, rule.tpm);
        items.push({ ...base, capText: String(rule.tpm), unit: Unit.Tokens, dim: 'tokens', counter: leases.counter(counterSpec(`${key}|t`, 'rate', rule.tpm, WINDOW_MS), generation) });
      }
      if (rule.concurrency !== null) {
        items.push({ ...base, capText: String(rule.concurrency), unit: Unit.One, dim: 'concurrency', counter: leases.counter(counterSpec(`${key}|c`, 'slots', rule.concurrency, WINDOW_MS), generation) });
      }
    }
    const wall = clock.wallMs();
    for (const rule of quotaRules) {
      const key = stateKey(rule, who);
      for (const period of ['day', 'month'] as const) {
        if ((period === 'day' ? rule.perDay : rule.perMonth) === null) continue;
        const cap = (period === 'day' ? rule.perDay : rule.perMonth)!;
        const item: Item = { rule, period, window: '', resetsAtMs: 0, stateKey: key, capText: String(cap), unit: Unit.Tokens, dim: 'quota', counter: null as unknown as LeaseCounter };
        rewindow(item, wall);
        items.push(item);
      }
    }
    return { items, tpmCap, ceiling: tokenCeilingOf(limitRules, quotaRules), rpmItems: items.filter((i) => i.dim === 'requests'), tpmItems: items.filter((i) => i.dim === 'tokens') };
  });

  /** Points a quota item at the counter of the window `wallMs` falls in (a new one each day or month). */
  function rewindow(item: Item, wallMs: number): void {
    const w = windowOf(item.period!, wallMs);
    if (w.id === item.window) return;
    const rule = item.rule as CompiledQuotaRule;
    const cap = (item.period === 'day' ? rule.perDay : rule.perMonth)!;
    item.window = w.id;
    item.resetsAtMs = w.resetsAtMs;
    item.counter = leases.counter(counterSpec(`q|${w.id}|${item.stateKey}`, 'quota', cap, Math.max(1, w.resetsAtMs - wallMs), { key: item.stateKey, window: w.id }), generation);
  }

  const amount = (item: Item, estimate: number) => (item.unit === Unit.One ? 1 : estimate);

  /**
   * Plans outlive the lease client's counters (it forgets one idle for ten sync intervals): a plan holding a forgotten
   * counter takes the client's current one for its key, so a process has one counter per key, which its timer
   * exchanges (test/state/leased-limiter.test.ts). A quota item finds its window's counter again.
   */
  function revive(plan: Plan): void {
    const items = plan.items;
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (!item.counter.retired) continue;
      if (item.period !== null) item.window = '';
      else item.counter = leases.counter(item.counter.spec, generation);
    }
  }

  /** `queued`: the caller is one of the waiting requests (others may not overtake them). */
  function takeAll(plan: Plan, estimate: number, queued: boolean): boolean {
    const items = plan.items;
    for (let i = 0; i < items.length; i++) {
      const c = items[i]!.counter;
      if (c.avail < amount(items[i]!, estimate) || (!queued && c.waiting > 0)) return false;
    }
    for (let i = 0; i < items.length; i++) items[i]!.counter.take(amount(items[i]!, estimate));
    return true;
  }

  /** The limiter's side of LeasedReservation.settle: once per reservation, later calls ignored. */
  const owner = {
    settle(r: LeasedReservation, actualTokens: number): void {
      if (r.settled) return;
      r.settled = true;
      const estimate = r.estimatedTokens;
      const actual = Number.isFinite(actualTokens) ? Math.max(0, Math.ceil(actualTokens)) : estimate;
      for (let i = 0; i < r.items.length; i++) {
        const dim = r.items[i]!.dim;
        const counter = r.counters[i]!;
        if (dim === 'requests') counter.settle(1, 1);
        else if (dim === 'concurrency') counter.settle(1, 0);
        // Rules of models tried before the one that answered (not shared with it) get their tokens back.
        else counter.settle(estimate, (r.layers === null ? 0 : r.layers[i]!) === r.layer ? actual : 0);
      }
    },
  };

  function reservation(plan: Plan, estimate: number, into: Record<string, string> | undefined): LeasedReservation {
    return new LeasedReservation(owner, headers(plan, into), estimate, plan.items);
  }

  /** Limiter.extend: the fallback's rules that `held` lacks are admitted as a reservation of their own, then merged. */
  function extend(held: Reservation, req: LimitSubject): void | Promise<void> {
    if (!(held instanceof LeasedReservation) || held.owner !== owner || held.settled) throw new Error('extend: not a live reservation of this limiter');
    const inner = held;
    const estimate = held.estimatedTokens;
    const full = plans.get(req);
    revive(full);
    const wall = full.items.length > full.rpmItems.length + full.tpmItems.length ? clock.wallMs() : 0;
    for (const item of full.items) if (item.period !== null) rewindow(item, wall);
    const ids = new Set(full.items.map(itemId));
    const heldIds = new Set(inner.items.map(itemId));
    const items = full.items.filter((i) => !heldIds.has(itemId(i)));
    const plan: Plan = { items, tpmCap: Math.min(Number.POSITIVE_INFINITY, ...items.filter((i) => i.dim === 'tokens').map((i) => i.counter.spec.cap)), ceiling: full.ceiling, rpmItems: items.filter((i) => i.dim === 'requests'), tpmItems: items.filter((i) => i.dim === 'tokens') };
    const merge = (sub: LeasedReservation): void => {
      const layer = ++inner.layer;
      // From here the reservation has items of its own: copies, with a layer per counter.
      const mergedItems = [...inner.items];
      const layers = inner.layers ?? mergedItems.map(() => 0);
      // Rules both models share are charged once and now settle with the fallback's tokens.
      for (let i = 0; i < mergedItems.length; i++) if (ids.has(itemId(mergedItems[i]!))) layers[i] = layer;
      for (let i = 0; i < sub.items.length; i++) {
        mergedItems.push(sub.items[i]!);
        inner.counters.push(sub.counters[i]!);
        layers.push(layer);
      }
      inner.items = mergedItems;
      inner.layers = layers;
    };
    const ask = { ...req, estimatedTokens: estimate };
    if (estimate > plan.tpmCap) {
      const rule = plan.tpmItems.find((i) => i.counter.spec.cap < estimate)!.rule;
      throw rateLimited(`Request too large for ${describeRule(rule, req)}: it needs up to ${estimate} tokens but the limit is ${plan.tpmCap} tokens per minute.`, null, headers(plan, undefined), 'tokens');
    }
    if (takeAll(plan, estimate, false)) return merge(reservation(plan, estimate, undefined));
    return slow(plan, ask, estimate, undefined).then(merge);
  }

  async function slow(plan: Plan, req: ReserveRequest, estimate: number, into: Record<string, string> | undefined): Promise<LeasedReservation> {
    // The counters as they are now: another request may revive the plan's items while this one waits.
    const counters = plan.items.map((item) => item.counter);
    for (const c of counters) c.waiting++;
    try {
      return await wait(plan, req, estimate, into);
    } finally {
      for (const c of counters) c.waiting--;
    }
  }

  async function wait(plan: Plan, req: ReserveRequest, estimate: number, into: Record<string, string> | undefined): Promise<LeasedReservation> {
    const short: LeaseCounter[] = [];
    const needs: number[] = [];
    // Spare units other holders are asked to return come back at their next exchange (one sync interval, more on a
    // starved machine): wait for them up to twenty retry delays (ten sync intervals) before refusing.
    let recallUntil = clock.now() + 20 * leases.retryDelayMs;
    // ...and for at least a few of this process's exchanges, which a starved event loop also slows down.
    let recallExchanges = leases.stats.exchanges + 6;
    for (let attempt = 0; ; attempt++) {
      short.length = 0;
      needs.length = 0;
      for (const item of plan.items) {
        const n = amount(item, estimate);
        if (item.counter.avail < n) {
          short.push(item.counter);
          // The whole amount, not the shortfall: every waiting request sees the same `avail`, and asking for the
          // shortfall each would under-ask for them together. Units asked for and not used go back as spare.
          needs.push(n);
        }
      }
      const recall = short.length === 0 ? false : await leases.acquire(short, needs);
      if (takeAll(plan, estimate, true)) return reservation(plan, estimate, into);
      // The authority is re-seeding after losing its data, or just went away: its refusal says nothing about the
      // limit, so the request keeps waiting (bounded by the lease client) and then gets a full recall window.
      if (leases.holding()) {
        recallUntil = clock.now() + 20 * leases.retryDelayMs;
        recallExchanges = leases.stats.exchanges + 6;
        await new Promise((r) => setTimeout(r, leases.retryDelayMs));
        continue;
      }
      // Granted, but requests arriving meanwhile took the units first: ask again. Refused while others hold units:
      // ask again once they have returned their spare. Refused outright: the limit is reached.
      const denied = plan.items.some((i) => i.counter.avail < amount(i, estimate) && i.counter.denied);
      if (denied && !recall) break;
      if (recall ? clock.now() >= recallUntil && leases.stats.exchanges >= recallExchanges : attempt >= attempts) break;
      if (recall) await new Promise((r) => setTimeout(r, leases.retryDelayMs));
      if (takeAll(plan, estimate, true)) return reservation(plan, estimate, into);
    }
    throw refuse(plan, req, estimate);
  }

  /** The least any of the plan's quotas has left: the authority's free units as of the last exchange plus the lease's. */
  function quotaLeft(plan: Plan): number {
    let least = Number.POSITIVE_INFINITY;
    for (const i of plan.items) if (i.dim === 'quota') least = Math.min(least, i.counter.remaining());
    return least;
  }

  function refuse(plan: Plan, req: ReserveRequest, estimate: number): GatewayError {
    const item = plan.items.find((i) => i.counter.avail < amount(i, estimate))!;
    const hdrs = headers(plan, undefined);
    if (leases.mode === 'fallback' && leases.fallbackKind !== 'share' && item.counter.level > 0) {
      // Refuse mode with the authority unreachable: the limit may not be spent, but nobody can tell.
      return new GatewayError('state_unavailable', 'Rate-limit state is unreachable and the gateway is configured to refuse what it cannot account for. Please retry shortly.', {
        headers: { 'retry-after': '1' },
      });
    }
    const who = describeRule(item.rule, req);
    // Share mode while the authority is away: the refusal is this process's share running out, not the whole limit.
    const tail = leases.mode === 'fallback' ? ' The shared limit state is unreachable: this gateway process serves its share of the limit until it is back.' : '';
    switch (item.dim) {
      case 'quota':
        return quotaExceeded(`You exceeded your token quota for ${who}: ${item.counter.spec.cap} tokens per ${item.period}, this request needs up to ${estimate}.${tail}`, item.resetsAtMs, clock.wallMs(), hdrs, quotaLeft(plan));
      case 'concurrency':
        return rateLimited(`Too many concurrent requests (${who}): limit ${item.counter.spec.cap}. Please retry when one finishes.${tail}`, 1000, hdrs, 'concurrency');
      case 'requests':
        return rateLimited(`Rate limit reached for requests per minute (${who}): limit ${item.counter.spec.cap}.${tail}`, WINDOW_MS / item.counter.spec.cap, hdrs, 'requests');
      case 'tokens':
        return rateLimited(
          `Rate limit reached for tokens per minute (${who}): limit ${item.counter.spec.cap}, requested ${estimate}.${tail}`,
          (estimate * WINDOW_MS) / item.counter.spec.cap,
          hdrs,
          'tokens',
        );
    }
  }

  return {
    reserve(req, into) {
      const estimate = Number.isFinite(req.estimatedTokens) ? Math.max(0, Math.ceil(req.estimatedTokens)) : 0;
      const plan = plans.get(req);
      revive(plan);
      if (estimate > plan.tpmCap) {
        const rule = plan.tpmItems.find((i) => i.counter.spec.cap < estimate)!.rule;
        throw rateLimited(
          `Request too large for ${describeRule(rule, req)}: it needs up to ${estimate} tokens but the limit is ${plan.tpmCap} tokens per minute. Lower max_tokens or shorten the prompt.`,
          null,
          headers(plan, undefined),
          'tokens',
        );
      }
      const wall = plan.items.length > plan.rpmItems.length + plan.tpmItems.length ? clock.wallMs() : 0;
      for (const item of plan.items) if (item.period !== null) rewindow(item, wall);
      if (takeAll(plan, estimate, false)) return reservation(plan, estimate, into);
      return slow(plan, req, estimate, into);
    },
    extend,
    tokenCeiling: (who) => plans.get(who).ceiling,
    snapshot: (filter) => leasedSnapshot(leases, rules, filter, clock),
  };

  /** x-ratelimit-* from the tightest rpm and tpm counters: the authority's free capacity plus this lease's spare. */
  function headers(plan: Plan, into: Record<string, string> | undefined): Record<string, string> {
    const out = into ?? {};
    writeHeaders(out, plan.rpmItems, 'requests');
    writeHeaders(out, plan.tpmItems, 'tokens');
    return out;
  }
}

// Header names built once, not per response.
const NAMES = {
  requests: ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests'],
  tokens: ['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens'],
} as const;

function writeHeaders(out: Record<string, string>, items: readonly Item[], dim: 'requests' | 'tokens'): void {
  if (items.length === 0) return;
  let best = items[0]!;
  for (const i of items) if (i.counter.remaining() < best.counter.remaining()) best = i;
  const cap = best.counter.spec.cap;
  const left = Math.floor(best.counter.remaining());
  const [limit, remaining, reset] = NAMES[dim];
  out[limit] = best.capText;
  out[remaining] = String(left);
  out[reset] = formatResetDuration(((cap - Math.min(cap, left)) * WINDOW_MS) / cap);
}
