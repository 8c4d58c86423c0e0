import type { RequestProfile } from '../request-profile.js';
import type { RoutingLogger } from '../types.js';
import { EventBlockIndex } from './block-index.js';
import { KvEventsSubscriber, type ZeromqModule } from './subscriber.js';
import { tokenKeyMemo, type TokenKeyMemo } from './token-key-memo.js';
import type { KvTokenizerName } from './token-keys.js';
import { decodeBatch } from './wire.js';

export interface KvEventsSourceOptions {
  /** The zeromq package (subscriber.ts loadZeromq), loaded once for every source. */
  readonly zmq: ZeromqModule;
  readonly backendId: string;
  readonly endpoint: string;
  readonly replayEndpoint: string | null;
  readonly topic: string;
  readonly tokenizer: KvTokenizerName;
  /** A routed prompt's first block must show up in the events within this long (ms), or it counts as a miss; and the
   * longest the publisher may be unreachable before the events are not trusted. */
  readonly staleMs: number;
  readonly now: () => number;
  readonly logger?: RoutingLogger;
}

/** The stream's state: only while `live` can routing trust the events (per endpoint, see `mismatch`). */
export type KvEventsState = 'live' | 'starting' | 'resync' | 'silent' | 'mismatch';
export const KV_EVENTS_STATES: readonly KvEventsState[] = ['live', 'starting', 'resync', 'silent', 'mismatch'];

/** Probes of one endpoint that must all miss before the events are taken to disagree with the gateway's keys there. */
const MISS_STREAK = 8;
const MAX_PROBES = 64;

/** A routed prompt's first block key, to be confirmed by the events. */
interface Probe {
  readonly key: number;
  readonly at: number;
  readonly endpoint: string;
}

/**
 * One backend's KV events as routing's ground truth for its prefix cache (issue 13). It is trusted (`live`) only
 * while the picture is complete and agrees with the gateway's keys:
 * - `starting`: no batch has come yet (the start replay is running, or the engine has published nothing);
 * - `resync`: batches were lost (an unrecoverable sequence gap, or history from before the gateway listened that the
 *   replay buffer no longer holds); the picture heals once as many blocks as the engine holds have been stored again;
 * - `silent`: the connection to the publisher has been down for `staleMs` (ZMTP heartbeats unanswered, or the
 *   engine gone); an engine that is idle or serves only cached prompts publishes nothing and stays `live`;
 * - `mismatch`: events come, but the first blocks of the prompts routed here never appear in them: the engine
 *   tokenizes (or templates) them differently from the gateway. Judged per endpoint, because a chat template the
 *   gateway cannot reproduce spoils chat prompts while completions prompts still match exactly: the events stay in
 *   use for the endpoints that agree (the state reads `mismatch` while any endpoint disagrees).
 * Every change is logged once and shown by the `infergate_kv_events_state` gauge (server wiring).
 */
export class KvEventsSource {
  readonly backendId: string;
  readonly index = new EventBlockIndex();
  readonly tokenizer: KvTokenizerName;
  /** The memo for this tokenizer and the engine's block size (known from the first stored block). */
  #memo: TokenKeyMemo | null = null;
  readonly #o: KvEventsSourceOptions;
  readonly #sub: KvEventsSubscriber;
  #state: KvEventsState = 'starting';
  /** Blocks to see stored again before a `resync` ends. */
  #healAfter = 0;
  /** When the connection to the publisher dropped; -1 while connected (or never connected yet). */
  #downSince = -1;
  #probes: Probe[] = [];
  /** Consecutive probe misses per endpoint, and the endpoints whose prompts the events do not match. */
  readonly #misses = new Map<string, number>();
  readonly #mismatched = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  readonly stats = { batches: 0, undecodable: 0, probeHits: 0, probeMisses: 0, transitions: 0 };
  /** The engine's KV capacity in blocks (set by routing from the backend's metrics): a picture that lost its history heals after that many stores. */
  capacityBlocks: () => number = () => 0;

  constructor(options: KvEventsSourceOptions) {
    this.#o = options;
    this.backendId = options.backendId;
    this.tokenizer = options.tokenizer;
    this.#sub = new KvEventsSubscriber({
      zmq: options.zmq,
      endpoint: options.endpoint,
      replayEndpoint: options.replayEndpoint,
      topic: options.topic,
      handler: {
        batch: (_seq, payload) => this.ingest(payload),
        lost: () => this.#lost(),
        restarted: () => {
          // An engine that starts over has an empty cache: the picture is complete again.
          this.index.clear();
          if (this.#state === 'resync') this.#set('live', 'the engine restarted (its cache is empty)');
        },
        caughtUp: () => {
          if (this.#state === 'starting') this.#set('live', 'caught up from the replay');
          else if (this.#state === 'silent') this.#set('live', 'reconnected, nothing missed');
        },
        connection: (up) => {
          this.#downSince = up ? -1 : this.#o.now();
        },
      },
    });
  }

  get state(): KvEventsState {
    return this.#mismatched.size > 0 && (this.#state === 'live' || this.#state === 'resync') ? 'mismatch' : this.#state;
  }

  /** The events are the backend's prefix cache for this request (read on the request path: a field and a Set). */
  usable(req: RequestProfile): boolean {
    return this.#state === 'live' && (this.#mismatched.size === 0 || !this.#mismatched.has(req.req.endpoint));
  }

  get subscriber(): KvEventsSubscriber {
    return this.#sub;
  }

  start(): void {
    this.#sub.start(this.#o.now);
    this.#timer = setInterval(() => this.#check(), Math.max(50, Math.min(500, this.#o.staleMs / 4)));
    this.#timer.unref();
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#sub.close();
  }

  /** The engine's prefix hit for this request in tokens, from the events (call while `live`). */
  cachedTokens(req: RequestProfile): number {
    const bs = this.index.blockSize;
    const memo = this.#memoFor(bs);
    if (!memo) return 0;
    const t = req.tokenKeys(memo);
    // As the engine: at least the last prompt token is computed again (it needs its logits).
    const cap = bs * Math.floor((Math.min(t.tokens, req.promptTokens) - 1) / bs);
    return Math.max(0, Math.min(this.index.matchLength(t.keys) * bs, cap));
  }

  /** A request was sent here: its first block is a probe the events should confirm (a push; keys are memoised). */
  routed(req: RequestProfile, now: number): void {
    const memo = this.#memoFor(this.index.blockSize);
    if (!memo || this.#probes.length >= MAX_PROBES) return;
    const first = req.tokenKeys(memo).keys[0];
    if (first !== undefined) this.#probes.push({ key: first, at: now, endpoint: req.req.endpoint });
  }

  /** One KVEventBatch payload, in sequence (the subscriber calls it; the benchmark feeds it directly). */
  ingest(payload: Uint8Array): void {
    const batch = decodeBatch(payload);
    if (!batch) {
      this.stats.undecodable++;
      return;
    }
    this.stats.batches++;
    let cleared = false;
    for (const e of batch.events) {
      this.index.apply(e);
      if (e.type === 'cleared') cleared = true;
    }
    if (this.#state === 'starting') this.#set('live', 'caught up');
    else if (this.#state === 'resync' && cleared) this.#set('live', 'the engine cleared its cache: the picture is complete');
    else if (this.#state === 'silent') this.#set('live', 'events again');
    else if (this.#state === 'resync' && this.index.storedSinceMark >= this.#healAfter) this.#set('live', 'picture rebuilt');
  }

  #lost(): void {
    this.index.storedSinceMark = 0;
    this.#healAfter = Math.max(1, this.index.size, this.capacityBlocks());
    this.#set('resync', 'events lost (sequence gap the replay could not fill)');
  }

  #check(): void {
    const now = this.#o.now();
    const down = this.#downSince;
    if (this.#state === 'live' && down >= 0 && now - down > this.#o.staleMs) {
      this.#set('silent', `the publisher has been unreachable for ${Math.round(now - down)} ms`);
    }
    const keep: Probe[] = [];
    for (const p of this.#probes) {
      if (this.index.has(p.key)) {
        this.stats.probeHits++;
        this.#misses.set(p.endpoint, 0);
        if (this.#mismatched.delete(p.endpoint)) this.#log('info', `events agree with routed ${p.endpoint} prompts again; routing uses them for those`);
      } else if (now - p.at > this.#o.staleMs) {
        this.stats.probeMisses++;
        const m = (this.#misses.get(p.endpoint) ?? 0) + 1;
        this.#misses.set(p.endpoint, m);
        if (m >= MISS_STREAK && !this.#mismatched.has(p.endpoint)) {
          this.#mismatched.add(p.endpoint);
          this.#log('warn', `the first blocks of ${m} ${p.endpoint} prompts routed here never appeared in the events (the engine's tokenizer or template differs from the gateway's ${this.tokenizer}); routing uses its own picture (the twin) for them`);
        }
      } else keep.push(p);
    }
    this.#probes = keep;
  }

  #memoFor(blockSize: number): TokenKeyMemo | null {
    if (blockSize === 0) return null;
    const m = this.#memo;
    if (m && m.blockSize === blockSize) return m;
    return (this.#memo = tokenKeyMemo(this.tokenizer, blockSize));
  }

  #log(level: 'info' | 'warn', msg: string): void {
    const log = { event: 'kv_events_match', backend: this.backendId, mismatched: [...this.#mismatched] };
    this.#o.logger?.[level](log, `KV events of ${this.backendId}: ${msg}`);
  }

  #set(state: KvEventsState, why: string): void {
    if (state === this.#state) return;
    const from = this.#state;
    this.#state = state;
    this.stats.transitions++;
    const log = { event: 'kv_events_state', backend: this.backendId, from, to: state, reason: why };
    if (state === 'live') this.#o.logger?.info(log, `KV events of ${this.backendId}: ${why}; routing uses them`);
    else this.#o.logger?.warn(log, `KV events of ${this.backendId}: ${why}; routing uses its own picture (the twin) for this backend`);
  }
}
