import type { CounterSpec, ExchangeItem, ExchangeReply } from './types.js';

/**
 * One counter's lease as a process holds it. The hot path only calls take/settle (a comparison and a few additions,
 * no allocation); the lease client's exchanges move units between `avail` and the authority in the background.
 *
 *   held  = what the authority believes this process holds = avail + units reserved by requests in flight
 *           + units consumed and not yet reported
 */
export class LeaseCounter {
  spec: CounterSpec;
  /** The generation of the limiter that set `spec` (LeaseClient.counter): an older one cannot set it back. */
  generation = 0;
  /** Units free to reserve here, now. */
  avail = 0;
  held = 0;
  /** Settled usage not yet reported to the authority. */
  consumed = 0;
  /** Units waiting requests need beyond `avail` (set by acquire, cleared by the exchange that carries it). */
  need = 0;
  /** The smallest of those shortfalls. */
  min = Number.POSITIVE_INFINITY;
  /** rate: consumed over about the last window (decayed); quota: all consumed in the window. */
  history = 0;
  historyAt: number;
  /** Units taken since the last exchange, and their decayed per-exchange average: sizes the next slice. */
  taken = 0;
  usePerSync = 0;
  /** The authority's free capacity at the last exchange (for the remaining-* headers and the state table). */
  level: number;
  /** Until then, keep no spare: every unit goes back to the authority and slices are single requests. */
  scarceUntil = 0;
  lastActive: number;

  constructor(spec: CounterSpec, now: number) {
    this.spec = spec;
    this.level = spec.cap;
    this.lastActive = now;
    this.historyAt = now;
    this.endsAt = spec.kind === 'quota' ? now + spec.windowMs : Number.POSITIVE_INFINITY;
  }

  /** Quota counters: when their window ends (then they are forgotten once idle). */
  readonly endsAt: number;

  /**
   * Requests of this process waiting for the authority on this counter. While there are any, new requests queue
   * behind them instead of taking the units just granted for them (they would otherwise lose the race, again).
   */
  waiting = 0;

  /** Reserves n units locally; false when the lease holds fewer (the caller then acquires). */
  take(n: number): boolean {
    if (this.avail < n) return false;
    this.avail -= n;
    this.taken += n;
    return true;
  }

  /** A request ends: it reserved `reserved` units and really used `actual` (slots: 0, so the slot comes back). */
  settle(reserved: number, actual: number): void {
    this.avail += reserved - actual;
    this.consumed += actual;
    this.history += actual;
  }

  /** What the headers show as remaining: the authority's free capacity plus this lease's unused units. */
  remaining(): number {
    return Math.max(0, this.level + this.avail);
  }

  /** The exchange item for this counter, applying its returns at once (undone by `restore` if the exchange fails). */
  prepare(now: number, syncMs: number): ExchangeItem {
    const scarce = now < this.scarceUntil;
    // Slice sized to recent use: enough for about two exchange periods, at most a tenth of the capacity.
    this.usePerSync = this.usePerSync * 0.5 + this.taken * 0.5;
    this.taken = 0;
    const target = scarce ? 0 : Math.min(Math.ceil(this.usePerSync * 2), Math.floor(this.spec.cap / 10));
    const need = this.need;
    const min = need > 0 ? Math.min(this.min, need) : 0;
    this.need = 0;
    this.min = Number.POSITIVE_INFINITY;
    let returned = 0;
    let want = need;
    // Units granted for requests still waiting stay for them: an exchange queued while the last one was out runs in
    // the turn that wakes them, before they could take what it granted.
    if (need === 0 && this.avail > target && this.waiting === 0) returned = this.avail - target;
    else if (need === 0 && this.avail < 0) returned = this.avail; // a debt (used more than reserved) goes back too
    else if (!scarce) want = Math.max(need, target - this.avail);
    const consumed = this.consumed;
    this.consumed = 0;
    this.avail -= returned;
    this.held -= consumed + returned;
    // Recent use of a rate bucket fades as the bucket refills: linearly over the window, never faster (so a lost
    // bucket re-seeded from it never hands out capacity that was already used).
    if (this.spec.kind === 'rate') this.history *= Math.max(0, 1 - (now - this.historyAt) / this.spec.windowMs);
    this.historyAt = now;
    return { spec: this.spec, consumed, returned, need, min, want: Math.max(0, want), held: this.held, spare: Math.max(0, this.avail), history: this.history };
  }

  restore(item: ExchangeItem): void {
    this.consumed += item.consumed;
    this.avail += item.returned;
    this.held += item.consumed + item.returned;
  }

  /** The last exchange granted less than the waiting requests needed (the authority is short, not just slow). */
  denied = false;

  apply(reply: ExchangeReply, need: number, now: number, syncMs: number): void {
    this.denied = reply.granted < need;
    this.avail += reply.granted;
    this.held += reply.granted;
    this.level = reply.level;
    if (reply.scarce) this.scarceUntil = now + 2 * syncMs;
  }

  /**
   * Set when the lease client forgot this counter (idle too long). A limiter that kept a reference to it must ask the
   * client for the counter again (`LeaseClient.counter`): a forgotten counter is exchanged by no timer, so units it
   * were granted again would never be returned or renewed, and a second object for the same key would declare its
   * own `held` for this process, overwriting the first's at the authority.
   */
  retired = false;

  /** Nothing held, nothing owed: the counter can be forgotten. */
  idle(): boolean {
    return this.held === 0 && this.consumed === 0 && this.need === 0 && this.avail === 0 && this.fallbackGranted === 0;
  }

  // While the authority is unreachable (fallback `share`): this process may use its share of what the authority
  // last said was left. Units so granted are owed to the authority when it is back (a debt on the rate bucket; quota
  // usage is reported as consumed anyway; slots are simply held).
  fallbackBudget: number | null = null;
  fallbackGranted = 0;

  /** The exchange's answer computed here, from this counter's share of the capacity last known to be free. */
  fallbackGrant(item: ExchangeItem, share: number): ExchangeReply {
    // Settled usage stays to be reported to the authority once it is back (it is still part of `held` until then).
    this.consumed += item.consumed;
    this.held += item.consumed;
    this.fallbackBudget ??= Math.floor(Math.max(0, this.level) * share);
    // Units handed back go to the local budget (and are no longer owed, as far as they were the fallback's).
    const returned = Math.max(0, item.returned + this.fallbackGrantedAtPrepare);
    this.fallbackBudget += returned;
    this.fallbackGranted = Math.max(0, this.fallbackGranted - returned);
    let granted = 0;
    // As at the authority, the units this lease already holds count toward the smallest waiting request.
    if (item.want > 0 && this.fallbackBudget >= 1 && this.fallbackBudget + item.spare >= Math.max(1, item.min)) granted = Math.min(item.want, this.fallbackBudget);
    this.fallbackBudget -= granted;
    this.fallbackGranted += granted;
    return { granted, level: this.fallbackBudget, scarce: this.fallbackBudget * 10 < this.spec.cap * share, retry: false };
  }

  /** Units the fallback granted, owed to a rate bucket as a debt in the first report the authority answers. */
  fallbackGrantedAtPrepare = 0;
  withFallbackDebt(item: ExchangeItem): ExchangeItem {
    this.fallbackGrantedAtPrepare = this.spec.kind === 'rate' ? this.fallbackGranted : 0;
    if (this.fallbackGrantedAtPrepare === 0) return item;
    return { ...item, returned: item.returned - this.fallbackGrantedAtPrepare };
  }

  /** The authority answered: the fallback's grants are now accounted for there. */
  endFallback(): void {
    this.fallbackBudget = null;
    this.fallbackGranted = 0;
    this.fallbackGrantedAtPrepare = 0;
  }
}
