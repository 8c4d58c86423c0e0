import type { CounterSpec, ExchangeItem, ExchangeReply } from './types.js';

/**
 * The lease authority's arithmetic, in memory: the supervisor runs it for the workers of a host, and the Lua script
 * in redis-script.ts is the same algorithm line for line (keep them in step; test/state runs both through the same
 * cases). Invariant: for every counter, what the authority can still grant plus what all holders hold never exceeds
 * the capacity, so requests admitted from leases can never overrun the limit.
 *
 * - rate: a token bucket whose refill stops at `cap - held` (units leased out count as still in the bucket).
 * - slots: free = cap - held; a holder returns a slot when its request ends.
 * - quota: free = cap - used - held; consumed units become `used` (persisted by the supervisor's quota store).
 */
export interface QuotaLedger {
  used(key: string, window: string): number;
  add(key: string, window: string, tokens: number): void;
}

export interface MemoryAuthorityOptions {
  /** A holder that has not exchanged for this long is presumed dead and its lease reclaimed. */
  leaseTtlMs: number;
  /** Persisted quota usage (the supervisor's SQLite quota store); in memory when absent. */
  quota?: QuotaLedger;
  now?: () => number;
}

interface Holder {
  held: number;
  spare: number;
  expires: number;
}

interface Counter {
  spec: CounterSpec;
  level: number;
  updated: number;
  holders: Map<string, Holder>;
  held: number;
  /** Quota usage when no ledger persists it. */
  used: number;
  /**
   * Quota: what each holder has been charged in this window, kept after its lease is reclaimed (the Lua script's
   * c:<id>), so a holder re-declaring its usage (after its lease expired, or to an authority that lost its state) is
   * charged only what it used beyond that, never its whole history again.
   */
  charged: Map<string, number>;
  scarceUntil: number;
  /** Monotonic ms after which an idle counter may be forgotten. */
  keepUntil: number;
}

export interface CounterView {
  readonly key: string;
  readonly kind: CounterSpec['kind'];
  readonly cap: number;
  /** Grantable now at the authority. */
  readonly free: number;
  /** Held by all holders (unused, in flight, consumed and not yet reported). */
  readonly held: number;
  /** Of which unused. */
  readonly spare: number;
  readonly holders: number;
}

export interface MemoryAuthority {
  exchange(holder: string, items: readonly ExchangeItem[]): ExchangeReply[];
  /** Live state per counter (the exactness checks read it). */
  view(): CounterView[];
  /** Forget a holder at once (its process exited); its lease is reclaimed as if it had expired. */
  drop(holder: string): void;
}

export function createMemoryAuthority(options: MemoryAuthorityOptions): MemoryAuthority {
  const now = options.now ?? (() => performance.now());
  const counters = new Map<string, Counter>();
  let exchanges = 0;
  // A counter nobody holds that is full again (rate), or whose window is over (quota), carries no information.
  const sweep = (t: number) => {
    for (const [key, c] of counters) if (c.holders.size === 0 && t > c.keepUntil) counters.delete(key);
  };
  const localUsed = (c: Counter) => (c.spec.quota && options.quota ? options.quota.used(c.spec.quota.key, c.spec.quota.window) : c.used);

  const reclaim = (c: Counter, id: string, h: Holder) => {
    c.held -= h.held;
    // A dead holder's lease may hide settled usage it never reported: for quotas it is charged (never an overrun);
    // for rates the units are simply gone and the bucket refills; slots come back.
    if (c.spec.kind === 'quota' && h.held > 0) {
      charge(c, h.held);
      c.charged.set(id, (c.charged.get(id) ?? 0) + h.held);
    }
    c.holders.delete(id);
  };

  const charge = (c: Counter, n: number) => {
    if (c.spec.quota && options.quota) options.quota.add(c.spec.quota.key, c.spec.quota.window, n);
    else c.used += n;
  };

  const free = (c: Counter) => (c.spec.kind === 'rate' ? c.level : c.spec.kind === 'slots' ? c.spec.cap - c.held : c.spec.cap - localUsed(c) - c.held);

  function one(holder: string, item: ExchangeItem, t: number): ExchangeReply {
    const spec = item.spec;
    let c = counters.get(spec.key);
    if (!c) {
      c = { spec, level: spec.cap, updated: t, holders: new Map(), held: 0, used: 0, charged: new Map(), scarceUntil: 0, keepUntil: 0 };
      counters.set(spec.key, c);
    }
    // A reload that changes the limit keeps what was consumed: the level moves by the change.
    if (spec.kind === 'rate' && spec.cap !== c.spec.cap) c.level += spec.cap - c.spec.cap;
    c.spec = spec;
    for (const [id, h] of c.holders) if (h.expires <= t) reclaim(c, id, h);
    if (spec.kind === 'rate') {
      c.level = Math.min(spec.cap - c.held, c.level + ((t - c.updated) * spec.cap) / spec.windowMs);
      c.updated = t;
    }
    let h = c.holders.get(holder);
    if (!h) {
      // Unknown holder: new, or this authority lost its state (a restart). Adopt what it says it holds, and charge
      // what it consumed recently so a lost bucket does not hand out the same capacity twice.
      h = { held: 0, spare: 0, expires: 0 };
      c.holders.set(holder, h);
      // Its lease (held now, and what it hands back in this very exchange) came out of a bucket this one does
      // not remember either: a fresh bucket counts those units as free already, so they are charged here and the
      // return below gives back only what it returns (before, returns after a restart were counted twice).
      if (spec.kind === 'rate') c.level -= item.history + item.held + item.returned;
    }
    if (spec.kind === 'quota') {
      // What it consumed since its last report, or all it says it consumed in the window if that is more than it
      // was ever charged here (a holder new to this authority re-seeding it); never the same units twice.
      const before = c.charged.get(holder) ?? 0;
      const total = Math.max(before + item.consumed, item.history);
      if (total > before) charge(c, total - before);
      c.charged.set(holder, total);
    }
    c.held += item.held - h.held;
    h.held = item.held;
    if (spec.kind === 'rate') c.level = Math.min(spec.cap - c.held, c.level + item.returned);

    const avail = free(c);
    let granted = 0;
    if (item.want > 0 && avail >= item.need && avail > 0) {
      // Fair share: with several holders none takes more than its part of what is left, down to single requests.
      const share = Math.floor(avail / c.holders.size);
      granted = Math.max(item.need, Math.min(item.want, share));
    } else if (item.need > 0 && avail + item.spare >= item.min && avail >= 1) {
      // Not enough for every waiting request: what is left serves some of them, counting the holder's own unused
      // units (a request larger than what is free here may fit in what is free plus that holder's spare).
      granted = Math.floor(avail);
    }
    let retry = false;
    if (granted < item.need) {
      // Others' leases may hide spare units (or refunds of requests settling now) that the authority cannot see:
      // the requester asks again after they have had an exchange in which they are told to return everything.
      let othersHeld = 0;
      for (const [id, o] of c.holders) if (id !== holder) othersHeld += o.held;
      retry = othersHeld + avail - granted >= item.min;
      c.scarceUntil = t + 1000;
    }
    h.held += granted;
    h.spare = item.spare + granted;
    c.held += granted;
    if (spec.kind === 'rate') c.level -= granted;
    h.expires = t + options.leaseTtlMs;
    c.keepUntil = t + spec.windowMs;
    const left = avail - granted;
    return { granted, level: left, scarce: retry || granted < item.need || left * 10 < spec.cap || t < c.scarceUntil, retry };
  }

  return {
    exchange(holder, items) {
      const t = now();
      if (++exchanges % 1024 === 0) sweep(t);
      return items.map((item) => one(holder, item, t));
    },
    drop(holder) {
      for (const c of counters.values()) {
        const h = c.holders.get(holder);
        if (h) reclaim(c, holder, h);
      }
    },
    view() {
      const out: CounterView[] = [];
      for (const c of counters.values()) {
        let spare = 0;
        for (const h of c.holders.values()) spare += h.spare;
        out.push({ key: c.spec.key, kind: c.spec.kind, cap: c.spec.cap, free: free(c), held: c.held, spare, holders: c.holders.size });
      }
      return out;
    },
  };
}
