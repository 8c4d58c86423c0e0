import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../../core/index.js';
import type { Broadcast } from '../../state/index.js';
import type { BackendState } from '../state/backend-state.js';
import { isTurn, packKeys, parseBatch, parseSnapshot, unpackKeys, type Batch, type TurnWire } from './codec.js';
import { PeerLoad } from './peer-load.js';

/** What the exchange reads and writes in the routing core. */
export interface ExchangeHost {
  stateById(id: string): BackendState | undefined;
  backendStates(): Iterable<BackendState>;
  /** A peer's finished turn of a session (recorded as if this replica had routed it, never published again). */
  applyTurn(session: string, backendId: string, promptChars: number, outputTokens: number): void;
  /** The most recent `max` session turns, oldest first. */
  recentTurns(max: number): TurnWire[];
}

/** The routing core's hooks: called on the request path, so they only append to a buffer. */
export interface ReplicaSink {
  bind(host: ExchangeHost): void;
  routed(backendId: string, keys: readonly number[]): void;
  turn(session: string, backendId: string, promptChars: number, outputTokens: number): void;
}

export interface ReplicaExchangeOptions {
  readonly broadcast: Broadcast;
  /** How often a batch is published (ms). */
  readonly intervalMs: number;
  /** Peer load not refreshed for this long is dropped (ms). */
  readonly staleMs: number;
  /** How often the fleet's picture is written for replicas that start (ms; one writer per period). */
  readonly snapshotMs: number;
  /** A key published within about this long is not published again (ms): peers' LRU order is that stale at most. */
  readonly refreshMs?: number;
  readonly clock?: Clock;
}

/** Session turns a snapshot carries (the most recent ones). */
const SNAPSHOT_TURNS = 10_000;

/**
 * Routing's side of the replica exchange (issue 13). Every `intervalMs` it publishes one batch: the prefix keys this
 * replica sent to each backend (deduplicated, and a key already published within `refreshMs` is left out), its own
 * in-flight load per backend, and the sessions' finished turns. Peers fold the keys into their twin (as most recently
 * used, unpinned), replace the sender's previous load with the new one, and record the turns. A replica that starts
 * loads the shared snapshot first. Nothing here runs on the request path except two array appends.
 */
export class ReplicaExchange implements ReplicaSink {
  readonly id = randomBytes(6).toString('hex');
  readonly #b: Broadcast;
  readonly #o: Required<Omit<ReplicaExchangeOptions, 'broadcast' | 'clock'>>;
  readonly #clock: Clock;
  #host: ExchangeHost | null = null;
  /** Routed (backend id, keys) pairs since the last batch: the request path appends, the timer drains. */
  #routed: (string | readonly number[])[] = [];
  #turns: TurnWire[] = [];
  /** Keys published in this and the previous refresh window, per backend. */
  #recent = new Map<string, Set<number>>();
  #older = new Map<string, Set<number>>();
  #rotatedAt = 0;
  readonly #peerLoad = new Map<string, PeerLoad>();
  /** Backends whose own load was last published as non-zero (they get one more batch when they reach zero). */
  readonly #loaded = new Set<string>();
  #timers: NodeJS.Timeout[] = [];
  /** Counters for /metrics and the benchmark. */
  readonly stats = { batches: 0, keysOut: 0, keysIn: 0, turnsIn: 0, snapshotKeys: 0, snapshotLoaded: false };

  constructor(options: ReplicaExchangeOptions) {
    this.#b = options.broadcast;
    this.#o = { intervalMs: options.intervalMs, staleMs: options.staleMs, snapshotMs: options.snapshotMs, refreshMs: options.refreshMs ?? 1000 };
    this.#clock = options.clock ?? systemClock;
    this.#b.onMessage((p) => this.#receive(p));
  }

  get broadcast(): Broadcast {
    return this.#b;
  }

  bind(host: ExchangeHost): void {
    this.#host = host;
  }

  routed(backendId: string, keys: readonly number[]): void {
    this.#routed.push(backendId, keys);
  }

  turn(session: string, backendId: string, promptChars: number, outputTokens: number): void {
    this.#turns.push([session, backendId, promptChars, outputTokens]);
  }

  /** Loads the shared snapshot (resolves once applied or when there is none), then publishes on a timer. */
  async start(): Promise<void> {
    await this.catchUp();
    const tick = setInterval(() => this.flush(), this.#o.intervalMs);
    tick.unref();
    const offer = () => void this.#b.offerSnapshot(() => this.snapshot(), this.#o.snapshotMs);
    offer();
    const snap = setInterval(offer, this.#o.snapshotMs);
    snap.unref();
    this.#timers.push(tick, snap);
  }

  /** Applies the latest shared snapshot, if any: a replica that starts routes on the fleet's picture at once. */
  async catchUp(): Promise<boolean> {
    const text = await this.#b.loadSnapshot();
    const snap = text === null ? null : parseSnapshot(text);
    const host = this.#host;
    if (!snap || !host) return false;
    for (const [id, packed] of Object.entries(snap.k)) {
      const s = host.stateById(id);
      if (!s || typeof packed !== 'string') continue;
      const keys = unpackKeys(packed);
      s.twin().touch(keys);
      this.stats.snapshotKeys += keys.length;
    }
    for (const t of snap.s) if (isTurn(t)) host.applyTurn(t[0], t[1], t[2], t[3]);
    this.stats.snapshotLoaded = true;
    return true;
  }

  /** This replica's whole picture: every backend's twin keys and the recent session turns. */
  snapshot(): string {
    const host = this.#host;
    const k: Record<string, string> = {};
    if (host) {
      for (const s of host.backendStates()) {
        const keys = s.twin().keys();
        if (keys.length > 0) k[s.id] = packKeys(keys, keys.length);
      }
    }
    return JSON.stringify({ k, s: host ? host.recentTurns(SNAPSHOT_TURNS) : [] });
  }

  /** Publishes what accumulated since the last batch (the timer calls it; tests may too). */
  flush(): void {
    const host = this.#host;
    if (!host) return;
    const now = this.#clock.now();
    if (now - this.#rotatedAt >= this.#o.refreshMs) {
      this.#older = this.#recent;
      this.#recent = new Map();
      this.#rotatedAt = now;
    }
    const fresh = new Map<string, Set<number>>();
    const routed = this.#routed;
    this.#routed = [];
    for (let i = 0; i < routed.length; i += 2) {
      const id = routed[i] as string;
      const keys = routed[i + 1] as readonly number[];
      let recent = this.#recent.get(id);
      if (!recent) this.#recent.set(id, (recent = new Set()));
      const older = this.#older.get(id);
      let out = fresh.get(id);
      for (const key of keys) {
        if (recent.has(key) || older?.has(key)) continue;
        recent.add(key);
        if (!out) fresh.set(id, (out = new Set()));
        out.add(key);
      }
    }
    let k: Record<string, string> | undefined;
    for (const [id, set] of fresh) {
      (k ??= {})[id] = packKeys(set, set.size);
      this.stats.keysOut += set.size;
    }
    let l: Record<string, number[]> | undefined;
    const cutoff = now - this.#o.staleMs;
    for (const s of host.backendStates()) {
      const peers = this.#peerLoad.get(s.id);
      peers?.expire(s, cutoff);
      const own = peers ? peers.own(s) : ownLoad(s);
      const busy = own.some((x) => x > 0);
      // Sent while non-zero (which also refreshes it before peers' staleness bound) and once more when it drops to 0.
      if (busy || this.#loaded.has(s.id)) (l ??= {})[s.id] = own.map(round);
      if (busy) this.#loaded.add(s.id);
      else this.#loaded.delete(s.id);
    }
    const s = this.#turns.length > 0 ? this.#turns : undefined;
    this.#turns = [];
    if (!k && !l && !s) return;
    const batch: Batch = { r: this.id, ...(k ? { k } : {}), ...(l ? { l } : {}), ...(s ? { s } : {}) };
    this.#b.publish(JSON.stringify(batch));
    this.stats.batches++;
  }

  close(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    return this.#b.close();
  }

  #receive(text: string): void {
    const host = this.#host;
    const batch = parseBatch(text);
    if (!host || !batch || batch.r === this.id) return;
    const now = this.#clock.now();
    if (batch.k) {
      for (const [id, packed] of Object.entries(batch.k)) {
        const s = host.stateById(id);
        if (!s || typeof packed !== 'string') continue;
        const keys = unpackKeys(packed);
        s.twin().touch(keys);
        this.stats.keysIn += keys.length;
      }
    }
    if (batch.l) {
      for (const [id, values] of Object.entries(batch.l)) {
        const s = host.stateById(id);
        if (!s || !Array.isArray(values)) continue;
        let p = this.#peerLoad.get(id);
        if (!p) this.#peerLoad.set(id, (p = new PeerLoad()));
        s.advance(now);
        p.set(s, batch.r, values as number[], now);
      }
    }
    if (batch.s) {
      for (const t of batch.s) {
        if (!isTurn(t)) continue;
        host.applyTurn(t[0], t[1], t[2], t[3]);
        this.stats.turnsIn++;
      }
    }
  }
}

function ownLoad(s: BackendState): number[] {
  return [s.inFlight, s.uncachedInFlight, s.pendingTokens, s.pendingAttn, s.decoding, s.decodeContext, s.remainingOutput].map((x) => Math.max(0, x));
}

const round = (x: number): number => Math.round(x * 10) / 10;
