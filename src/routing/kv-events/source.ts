import type { RequestProfile } from '../request-profile.js';
import type { RoutingLogger } from '../types.js';
import { EventBlockIndex } from './block-index.js';
import { KvEventsSubscriber } from './subscriber.js';
import { tokenizerFor, type KvTokenizerName, type Tokenize } from './token-keys.js';
import { decodeBatch } from './wire.js';

export interface KvEventsSourceOptions {
  readonly backendId: string;
  readonly endpoint: string;
  readonly replayEndpoint: string | null;
  readonly topic: string;
  readonly tokenizer: KvTokenizerName;
  /** A routed prompt's first block must show up in the events within this long (ms), or it counts as a miss. */
  readonly staleMs: number;
  readonly now: () => number;
  readonly logger?: RoutingLogger;
}

/** Why a source is not the ground truth at the moment (routing then uses the twin for that backend). */
export type KvEventsState = 'live' | 'starting' | 'resync' | 'silent' | 'mismatch';
export const KV_EVENTS_STATES: readonly KvEventsState[] = ['live', 'starting', 'resync', 'silent', 'mismatch'];

/** Probes that must all miss before the events are taken to disagree with what the gateway tokenizes. */
const MISS_STREAK = 8;
const MAX_PROBES = 64;

/**
 * One backend's KV events as routing's ground truth for its prefix cache (issue 13). It is trusted (`live`) only
 * while the picture is complete and agrees with the gateway's keys:
 * - `starting`: the start replay has not finished;
 * - `resync`: batches were lost (an unrecoverable sequence gap, or history from before the gateway listened that the
 *   replay buffer no longer holds); the picture heals once as many blocks as it held have been stored again;
 * - `silent`: requests were routed here but no batch came for `staleMs` (the publisher is gone);
 * - `mismatch`: events come, but the first blocks of the prompts routed here never appear in them: the engine
 *   tokenizes (or templates) differently from the gateway's tokenizer, so matching cannot be exact.
 * Every change is logged once and counted in the `infergate_kv_events_state` gauge (server wiring).
 */
export class KvEventsSource {
  readonly backendId: string;
  readonly index = new EventBlockIndex();
  readonly tokenizer: KvTokenizerName;
  readonly tokenize: Tokenize;
  readonly #o: KvEventsSourceOptions;
  readonly #sub: KvEventsSubscriber;
  #state: KvEventsState = 'starting';
  /** Blocks to see stored again before a `resync` ends. */
  #healAfter = 0;
  #lastRoutedAt = 0;
  #probes: { key: number; at: number }[] = [];
  #misses = 0;
  /** The state a mismatch interrupted, resumed when the events agree again. */
  #beforeMismatch: KvEventsState = 'live';
  #timer: NodeJS.Timeout | null = null;
  readonly stats = { batches: 0, undecodable: 0, probeHits: 0, probeMisses: 0, transitions: 0 };
  /** The engine's KV capacity in blocks (set by routing from the backend's metrics): a picture that lost its history heals after that many stores. */
  capacityBlocks: () => number = () => 0;

  constructor(options: KvEventsSourceOptions) {
    this.#o = options;
    this.backendId = options.backendId;
    this.tokenizer = options.tokenizer;
    this.tokenize = tokenizerFor(options.tokenizer);
    this.#sub = new KvEventsSubscriber({
      endpoint: options.endpoint,
      replayEndpoint: options.replayEndpoint,
      topic: options.topic,
      handler: {
        batch: (_seq, payload) => this.ingest(payload),
        lost: () => this.#lost(),
        restarted: () => this.index.clear(),
      },
    });
  }

  get state(): KvEventsState {
    return this.#state;
  }

  /** The events are the backend's prefix cache now; read on the request path, so a field. */
  get live(): boolean {
    return this.#state === 'live';
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
    if (bs === 0) return 0;
    const t = req.tokenKeys(this.tokenize, bs);
    // As the engine: at least the last prompt token is computed again (it needs its logits).
    const cap = bs * Math.floor((Math.min(t.tokens, req.promptTokens) - 1) / bs);
    return Math.max(0, Math.min(this.index.matchLength(t.keys) * bs, cap));
  }

  /** A request was sent here: its first block is a probe the events should confirm (a push; keys are memoised). */
  routed(req: RequestProfile, now: number): void {
    this.#lastRoutedAt = now;
    const bs = this.index.blockSize;
    if (bs === 0 || this.#probes.length >= MAX_PROBES) return;
    const first = req.tokenKeys(this.tokenize, bs).keys[0];
    if (first !== undefined) this.#probes.push({ key: first, at: now });
  }

  /** One KVEventBatch payload, in sequence (the subscriber calls it; the benchmark feeds it directly). */
  ingest(payload: Uint8Array): void {
    const batch = decodeBatch(payload);
    if (!batch) {
      this.stats.undecodable++;
      return;
    }
    this.stats.batches++;
    for (const e of batch.events) this.index.apply(e);
    if (this.#state === 'starting') this.#set('live', 'caught up');
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
    const last = this.#sub.stats.lastMessageAt;
    if (this.#state === 'live' && this.#lastRoutedAt - last > this.#o.staleMs && now - last > this.#o.staleMs) {
      this.#set('silent', `no events for ${Math.round(now - last)} ms while requests were sent`);
    }
    const keep: { key: number; at: number }[] = [];
    for (const p of this.#probes) {
      if (this.index.has(p.key)) {
        this.stats.probeHits++;
        this.#misses = 0;
      } else if (now - p.at > this.#o.staleMs) {
        this.stats.probeMisses++;
        this.#misses++;
      } else keep.push(p);
    }
    this.#probes = keep;
    if (this.#misses >= MISS_STREAK && this.#state !== 'mismatch') {
      this.#beforeMismatch = this.#state === 'silent' ? 'live' : this.#state;
      this.#set('mismatch', `the first blocks of ${this.#misses} prompts routed here never appeared in the events: the engine's tokenizer or template differs from ${this.tokenizer}`);
    } else if (this.#state === 'mismatch' && this.#misses === 0) this.#set(this.#beforeMismatch, 'events agree with routed prompts again');
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
