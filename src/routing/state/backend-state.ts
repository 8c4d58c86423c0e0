import type { BackendTarget } from '../types.js';
import { LruKeySet } from '../prefix/lru-key-set.js';
import { TwinPrefixIndex } from '../prefix/twin-index.js';
import type { KvEventsSource } from '../kv-events/source.js';
import { attentionPairs, decodeStepMs, prefillMs, type EngineProfile } from '../twin-model.js';
import { EMPTY_METRICS, looksRestarted, type EngineMetrics } from './engine-metrics.js';
import { remainingOutput, type InFlight } from './in-flight.js';
import { Calibration } from './calibration.js';
import { KvProjection } from './kv-projection.js';

/** KV capacity assumed until a scrape reports one: 8B on one H100 (29,205 blocks × 16). */
export const DEFAULT_KV_CAPACITY_TOKENS = 467_280;
/**
 * A step may carry prefill worth up to this share of its decode time and still calibrate the speed factor (with the
 * prefill in the prediction); a step dominated by prefill is left out, as the cost model predicts it least well.
 */
const MEASURABLE_PREFILL_SHARE = 0.5;
/** Decode steps one speed sample spans (see #calibrate). */
const CALIBRATION_WINDOW_STEPS = 8;
/** SGLang's default max_tree_size, in characters. */
const SGLANG_TREE_CHARS = 2 ** 26;

/**
 * Everything routing knows about one backend: the gateway's exact accounting of its own in-flight requests, a twin
 * that advances their prefill in time between events, the latest scrape, calibration learned from responses, and the
 * prefix indexes the policies use. Survives config reloads for the same URL.
 */
export class BackendState {
  readonly id: string;
  target: BackendTarget;
  readonly profile: EngineProfile;
  readonly charsPerBlock: number;
  readonly calibration = new Calibration();
  inFlight = 0;
  /** Σ uncached tokens of requests before their first token (llm-d's in-flight prefill load; not time-drained). */
  uncachedInFlight = 0;
  /** Σ prefill tokens the twin believes are still queued or in progress (time-drained). */
  pendingTokens = 0;
  pendingAttn = 0;
  decoding = 0;
  /** Σ context (prompt + generated) of decoding requests: what each decode step reads. */
  decodeContext = 0;
  /** Σ expected tokens still to generate over in-flight requests. */
  remainingOutput = 0;
  lastDispatchAt = Number.NEGATIVE_INFINITY;
  metrics: EngineMetrics = EMPTY_METRICS;
  metricsAt = Number.NEGATIVE_INFINITY;
  kvCapacityTokens = DEFAULT_KV_CAPACITY_TOKENS;
  engineBlockSize = 16;
  readonly #pending: InFlight[] = [];
  #pendingPrompt = 0;
  /** Leading entries of #pending whose prefill has drained in the model (they wait for their first token). */
  #drainedHead = 0;
  readonly #kv = new KvProjection();
  #drainedAt = 0;
  #twin: TwinPrefixIndex | null = null;
  #approx: LruKeySet | null = null;
  #tree: LruKeySet | null = null;
  /** The engine's own KV events for this backend, when configured: while live they replace the twin's guess. */
  kv: KvEventsSource | null = null;

  constructor(target: BackendTarget, profile: EngineProfile, charsPerBlock: number) {
    this.id = target.id;
    this.target = target;
    this.profile = profile;
    this.charsPerBlock = charsPerBlock;
  }

  /** Engine tokens one prefix key stands for, from the learned chars/token ratio. */
  get tokensPerKey(): number {
    return this.charsPerBlock / this.calibration.charsPerToken;
  }

  /** The token-aware twin index, sized from the reported KV capacity and the cache-trust factor. */
  twin(): TwinPrefixIndex {
    if (!this.#twin) this.#twin = new TwinPrefixIndex(this.#twinCapacity());
    return this.#twin;
  }

  /** GIE/llm-d approximate index: LRU of the first 256 blocks of routed prompts, sized like num_gpu_blocks. */
  approx(): LruKeySet {
    if (!this.#approx) this.#approx = new LruKeySet(this.kvCapacityTokens / this.engineBlockSize);
    return this.#approx;
  }

  /** SGLang-style per-worker tree of routed prompt text (full length, LRU beyond max_tree_size). */
  tree(): LruKeySet {
    if (!this.#tree) this.#tree = new LruKeySet(SGLANG_TREE_CHARS / this.charsPerBlock);
    return this.#tree;
  }

  /** Predicted prefix hit in engine tokens for `matchedKeys` leading keys, rounded down to whole engine blocks. */
  cachedTokensFor(matchedKeys: number, promptTokens: number): number {
    const bs = this.engineBlockSize;
    const raw = Math.floor((matchedKeys * this.tokensPerKey) / bs) * bs;
    return Math.max(0, Math.min(raw, bs * Math.floor((promptTokens - 1) / bs)));
  }

  /** Advances the twin: queued prefill drains FCFS at the rate the cost model gives for the current batch. */
  advance(now: number): void {
    const dt = now - this.#drainedAt;
    this.#drainedAt = now;
    if (dt <= 0 || this.pendingTokens <= 0) return;
    const p = this.profile;
    const chunk = Math.min(this.pendingTokens, Math.max(256, p.stepTokenBudget - this.decoding));
    const attnPerToken = this.pendingAttn / this.pendingTokens;
    const stepMs = decodeStepMs(p, this.decoding, this.decodeContext) + chunk * (p.perPrefillToken + p.perAttentionPair * attnPerToken);
    let credit = (chunk / (stepMs * this.speed())) * dt;
    const pending = this.#pending;
    // Requests at the head whose prefill has drained wait for their first token and take no credit; they are skipped
    // by index, not walked on every call (hundreds wait there when the connection pool queues requests).
    let head = this.#drainedHead;
    while (head < pending.length && pending[head]!.prefillLeft <= 0) head++;
    for (let i = head; i < pending.length && credit > 0; i++) {
      const r = pending[i]!;
      if (r.prefillLeft <= 0) continue;
      const take = Math.min(r.prefillLeft, credit);
      const attnTake = (r.attnLeft * take) / r.prefillLeft;
      r.prefillLeft -= take;
      r.attnLeft -= attnTake;
      this.pendingTokens -= take;
      this.pendingAttn -= attnTake;
      credit -= take;
      if (r.prefillLeft <= 0 && i === head) head++;
    }
    this.#drainedHead = head;
    if (this.pendingTokens < 1e-6) this.pendingTokens = this.pendingAttn = 0;
  }

  /** Predicted time before a new request's own prefill could start (ms). */
  queueMs(now: number): number {
    this.advance(now);
    return prefillMs(this.profile, this.pendingTokens, this.pendingAttn, this.decoding, this.decodeContext) * this.speed();
  }

  /**
   * Predicted TTFT of a request with `cached` reusable and `uncached` new prompt tokens and `output` expected output
   * tokens, if dispatched now.
   */
  predictTtftMs(now: number, cached: number, uncached: number, output = 0): number {
    this.advance(now);
    const p = this.profile;
    const own = Math.max(1, uncached);
    const work = prefillMs(p, this.pendingTokens + own, this.pendingAttn + attentionPairs(cached, own), this.decoding, this.decodeContext);
    // Arriving mid-step, a request waits on average half a step before it can be scheduled.
    const residual = this.inFlight > 0 ? decodeStepMs(p, this.decoding, this.decodeContext) / 2 : 0;
    return (work + residual) * this.speed() + this.kvWaitMs(own, output);
  }

  /** Decode step time now, and with one more sequence of `context` tokens (ms, speed-scaled). */
  decodeStepMs(extraSeqs = 0, extraContext = 0): number {
    return decodeStepMs(this.profile, this.decoding + extraSeqs, this.decodeContext + extraContext) * this.speed(this.decoding + extraSeqs);
  }

  /** The learned speed factor for steps with `batch` sequences decoding (default: the batch running now). */
  speed(batch = this.decoding): number {
    return this.calibration.speedAt(batch);
  }

  /**
   * Expected wait for KV space, used in the cost. The committed demand is what is resident plus the output still
   * expected from in-flight requests ("virtual usage", as Llumnix calls it) plus this request; the excess over
   * capacity has to wait for finishing requests, which free their context at about decodeContext/remainingOutput
   * tokens per step. Counting committed rather than current usage steers requests away from a backend whose
   * decodes will outgrow its cache before they hit it, which is when vLLM starts preempting (discarding work).
   */
  kvWaitMs(ownNew: number, ownOutput: number): number {
    const excess = this.residentTokens() + Math.max(0, this.remainingOutput) + ownNew + ownOutput - this.kvCapacityTokens;
    return excess <= 0 ? 0 : this.#freeTimeMs(excess);
  }

  /**
   * Whether the request would overflow the cache at the projected peak of demand, given that requests finish and
   * free their blocks while others grow (a sharper test than kvWaitMs, used to hold requests in the gateway queue).
   */
  kvOverflows(ownNew: number, ownOutput: number): boolean {
    const resident = this.residentTokens();
    if (resident + Math.max(0, this.remainingOutput) + ownNew + ownOutput <= this.kvCapacityTokens) return false;
    return this.#kv.peak(resident, ownNew, ownOutput) > this.kvCapacityTokens;
  }

  #freeTimeMs(tokens: number): number {
    if (this.decoding === 0 || this.remainingOutput <= 0) return 0;
    const freedPerStep = (this.decodeContext * this.decoding) / Math.max(this.decoding, this.remainingOutput);
    return (tokens / Math.max(1, freedPerStep)) * this.decodeStepMs();
  }

  /**
   * Expected future cost (ms) of the cache space this request's new blocks take here. A full cache evicts
   * least-recently-used prefixes that later requests will recompute; a filling one will soon. So the new tokens are
   * priced at the prefill rate, times the share of prompt tokens this cache serves (worthless without sharing,
   * costly with it), times the squared fill level (free space is nearly free, the last of it is not). This is what
   * spreads new prefixes over every replica's cache instead of piling them where prefill is cheapest.
   */
  evictionCostMs(ownNew: number, ownOutput: number): number {
    const twin = this.#twin;
    const reuse = this.calibration.reuseRate;
    if (!twin || reuse <= 0) return 0;
    const newBlocks = (ownNew + ownOutput) / this.tokensPerKey;
    const fill = Math.min(1, (twin.usedBlocks + newBlocks) / twin.capacity);
    return (ownNew + ownOutput) * this.profile.perPrefillToken * this.speed() * reuse * fill * fill;
  }

  /** Fraction of the prefix-cache mirror in use (pinned, reserved for generation, or cached and evictable). */
  cacheOccupancy(): number {
    const twin = this.#twin;
    return twin ? Math.min(1, twin.usedBlocks / twin.capacity) : 0;
  }

  /** Tokens held in KV by in-flight requests, shared prefixes counted once (from the twin when it exists). */
  residentTokens(): number {
    const twin = this.#twin;
    const mine = twin ? (twin.pinnedBlocks + twin.reservedBlocks) * this.tokensPerKey : this.#sumResident();
    const scraped = this.metrics.kvUsage !== null ? this.metrics.kvUsage * this.kvCapacityTokens : 0;
    return Math.max(mine, scraped);
  }

  #sumResident(): number {
    return this.decodeContext + this.#pendingPrompt;
  }

  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Σ prompt tokens of in-flight requests before their first token (the context they bring to the decode batch). */
  get pendingPromptTokens(): number {
    return this.#pendingPrompt;
  }

  dispatch(r: InFlight, now: number): void {
    this.advance(now);
    this.inFlight++;
    this.lastDispatchAt = now;
    this.#pending.push(r);
    this.#pendingPrompt += r.promptTokens;
    this.#kv.add(r);
    this.pendingTokens += r.prefillLeft;
    this.pendingAttn += r.attnLeft;
    this.uncachedInFlight += r.uncached;
    this.remainingOutput += remainingOutput(r);
    if (r.keys && this.#twin) {
      this.#twin.pin(r.keys);
      // The prompt's tail beyond its last full key still occupies engine blocks.
      const tail = Math.max(0, r.promptTokens / this.tokensPerKey - r.keys.length);
      r.reservedBlocks += tail;
      this.#twin.reserve(tail);
    }
  }

  firstToken(r: InFlight, now: number): void {
    if (r.ended || r.firstTokenAt >= 0) return;
    this.advance(now);
    this.#leavePending(r);
    r.firstTokenAt = now;
    r.lastTokenAt = now;
    this.decoding++;
    this.decodeContext += r.promptTokens + r.decoded;
  }

  tokens(r: InFlight, n: number, now: number): void {
    if (r.ended || n <= 0) return;
    if (r.firstTokenAt >= 0) {
      this.advance(now);
      this.#calibrate(r, r.decoded === 0 ? n - 1 : n, now);
    }
    const before = remainingOutput(r);
    r.decoded += n;
    r.lastTokenAt = now;
    if (r.firstTokenAt >= 0) this.decodeContext += n;
    this.remainingOutput += remainingOutput(r) - before;
    if (this.#twin) {
      const blocks = n / this.tokensPerKey;
      r.reservedBlocks += blocks;
      this.#twin.reserve(blocks);
    }
  }

  /**
   * Feeds `steps` decode steps of `r` that ended by `now` into the speed calibration. A decode-only step is what the
   * cost model predicts best; steps carrying a sliver of prefill (short prompts arriving all the time) count too,
   * with that sliver in the prediction: demanding none at all meant a backend busy with a steady stream of short
   * requests was never measured, kept the speed of its idle start and looked fast while it piled up. A step with
   * real prefill in it restarts the window. Steps are measured over windows of CALIBRATION_WINDOW_STEPS, from one
   * arrival to another: tokens reach the gateway in bursts (TCP reads, a busy event loop, proxies), and per-event
   * gaps then read as near zero and learned a backend several times too fast.
   */
  #calibrate(r: InFlight, steps: number, now: number): void {
    const p = this.profile;
    const decodeMs = decodeStepMs(p, this.decoding, this.decodeContext);
    // The prefill one step carries: at most a chunk of what is pending.
    const chunk = Math.min(this.pendingTokens, Math.max(256, p.stepTokenBudget - this.decoding));
    const prefillMs = this.pendingTokens > 0 ? chunk * (p.perPrefillToken + (p.perAttentionPair * this.pendingAttn) / this.pendingTokens) : 0;
    if (prefillMs > MEASURABLE_PREFILL_SHARE * decodeMs) {
      r.calFrom = now;
      r.calSteps = r.calPredictedMs = r.calBatch = 0;
      return;
    }
    if (r.calFrom < 0) r.calFrom = r.firstTokenAt;
    r.calSteps += steps;
    r.calPredictedMs += steps * (decodeMs + prefillMs);
    r.calBatch += steps * this.decoding;
    if (r.calSteps < CALIBRATION_WINDOW_STEPS) return;
    this.calibration.observeStep((now - r.calFrom) / r.calSteps, r.calPredictedMs / r.calSteps, r.calBatch / r.calSteps);
    r.calFrom = now;
    r.calSteps = r.calPredictedMs = r.calBatch = 0;
  }

  end(r: InFlight, now: number, usage: { promptTokens?: number; cachedTokens?: number } | null): void {
    if (r.ended) return;
    this.advance(now);
    r.ended = true;
    this.#kv.remove(r);
    if (r.firstTokenAt < 0) this.#leavePending(r);
    else {
      this.decoding--;
      this.decodeContext -= r.promptTokens + r.decoded;
    }
    this.inFlight--;
    this.remainingOutput -= remainingOutput(r);
    if (this.inFlight === 0) this.decoding = this.decodeContext = this.remainingOutput = this.uncachedInFlight = 0;
    if (this.#twin) this.#twin.unpin(r.keys ?? [], r.reservedBlocks);
    if (usage) this.#learn(r, usage);
  }

  applyMetrics(m: EngineMetrics, now: number): void {
    if (looksRestarted(this.metrics, m)) this.clearCaches();
    this.metrics = m;
    this.metricsAt = now;
    if (m.blockSize !== null && m.blockSize > 0) this.engineBlockSize = m.blockSize;
    if (m.kvCapacityTokens !== null && m.kvCapacityTokens > 0 && m.kvCapacityTokens !== this.kvCapacityTokens) {
      this.kvCapacityTokens = m.kvCapacityTokens;
      this.#resize();
    }
  }

  /** The backend lost its cache (restart): every index forgets it. */
  clearCaches(): void {
    this.#twin?.clear();
    this.#approx?.clear();
    this.#tree?.clear();
  }

  #learn(r: InFlight, usage: { promptTokens?: number; cachedTokens?: number }): void {
    const cal = this.calibration;
    if (usage.promptTokens !== undefined && usage.promptTokens > 0) cal.observeCharsPerToken(r.promptChars / usage.promptTokens);
    if (usage.cachedTokens !== undefined) {
      const trustBefore = cal.cacheTrust;
      cal.observeCacheHit(r.cachedPred, usage.cachedTokens, this.engineBlockSize * 2, usage.promptTokens ?? r.promptTokens);
      if (cal.cacheTrust !== trustBefore) this.#resize();
    }
  }

  #twinCapacity(): number {
    return (this.kvCapacityTokens * this.calibration.cacheTrust) / this.tokensPerKey;
  }

  #resize(): void {
    if (this.#twin) this.#twin.capacity = this.#twinCapacity();
    if (this.#approx) this.#approx.capacity = this.kvCapacityTokens / this.engineBlockSize;
  }

  #leavePending(r: InFlight): void {
    const i = this.#pending.indexOf(r);
    if (i < 0) return;
    this.#pending.splice(i, 1);
    if (i < this.#drainedHead) this.#drainedHead--;
    this.#pendingPrompt -= r.promptTokens;
    this.pendingTokens = Math.max(0, this.pendingTokens - r.prefillLeft);
    this.pendingAttn = Math.max(0, this.pendingAttn - r.attnLeft);
    this.uncachedInFlight = Math.max(0, this.uncachedInFlight - r.uncached);
    r.prefillLeft = 0;
    r.attnLeft = 0;
  }
}
