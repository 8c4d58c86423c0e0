import type { EngineCallbacks, EngineRequest, EngineSnapshot, Scheduler, SchedulerHandle, SimEngine } from './types.js';
import { BlockPool } from './vllm/block-pool.js';
import { emptyStepLoad, stepTimeMs, type StepLoad } from './vllm/cost-model.js';
import type { KvEventSink } from './vllm/kv-event-sink.js';
import { KvManager } from './vllm/kv-manager.js';
import { resolveVllmOptions, type ResolvedVllmOptions, type VllmEngineOptions } from './vllm/options.js';
import { createSeededRng, type SeededRng } from './vllm/rng.js';
import { tokensToCompute, type Sequence, type VllmEngineRequest } from './vllm/sequence.js';
import { EngineStats } from './vllm/stats.js';
import { WaitQueue } from './vllm/wait-queue.js';

export type { VllmEngineOptions, VllmCostConstants } from './vllm/options.js';
export { LLAMA_8B_H100 } from './vllm/options.js';
export type { VllmEngineRequest } from './vllm/sequence.js';
export type { KvEventSink } from './vllm/kv-event-sink.js';

/** Cheap gauges for the discrete-event runner's scrapes (no latency-sample copies). */
export interface VllmGauges {
  running: number;
  waiting: number;
  kvUsage: number;
  kvBlocksTotal: number;
  kvBlocksFree: number;
  cachedBlocks: number;
  blockSize: number;
  prefixQueriesTokens: number;
  prefixHitsTokens: number;
  preemptions: number;
  promptTokensTotal: number;
  generationTokensTotal: number;
  requestsFinished: number;
  steps: number;
  busyMs: number;
}

export interface VllmEngine extends SimEngine {
  readonly options: ResolvedVllmOptions;
  gauges(): VllmGauges;
}

/**
 * A vLLM V1 engine on a Scheduler: one step at a time, each step's duration from the §6.2 cost model, tokens emitted
 * at step end. The step loop follows vllm/v1/core/sched/scheduler.py: running requests first (decodes and unfinished
 * prefill chunks, preempting the newest running request when blocks run out), then FCFS admission from the waiting
 * queue if nothing was preempted, all under one token budget.
 */
export function createVllmEngine(scheduler: Scheduler, options: VllmEngineOptions & { kvEvents?: KvEventSink } = {}): VllmEngine {
  return new VllmEngineImpl(scheduler, resolveVllmOptions(options), options.kvEvents ?? null);
}

class VllmEngineImpl implements VllmEngine {
  readonly options: ResolvedVllmOptions;
  readonly #sched: Scheduler;
  readonly #pool: BlockPool;
  readonly #kv: KvManager;
  readonly #rng: SeededRng;
  #stats: EngineStats;
  #running: Sequence[] = [];
  readonly #waiting = new WaitQueue<Sequence>();
  readonly #byId = new Map<string, Sequence>();
  #batch: Sequence[] = [];
  #load: StepLoad = emptyStepLoad();
  #handle: SchedulerHandle | null = null;
  /** idle: no step pending; kicked: a step start is scheduled; stepping: a step is in progress. */
  #phase: 'idle' | 'kicked' | 'stepping' = 'idle';
  #epoch = 0;
  #stepStartMs = 0;
  readonly #events: KvEventSink | null;

  constructor(scheduler: Scheduler, options: ResolvedVllmOptions, events: KvEventSink | null) {
    this.options = options;
    this.#sched = scheduler;
    this.#events = events;
    this.#pool = new BlockPool(options.numGpuBlocks);
    this.#kv = new KvManager(this.#pool, options.blockSize, options.prefixCaching, events);
    this.#rng = createSeededRng(options.seed);
    this.#stats = new EngineStats(options.histogramCap);
  }

  submit(req: EngineRequest, callbacks: EngineCallbacks): void {
    const prompt = req.promptTokenIds.length;
    const target = Math.max(1, Math.floor(req.outputTokens));
    if (prompt < 1) throw new RangeError(`vllm engine: request ${req.id} has an empty prompt`);
    if (this.#byId.has(req.id)) throw new Error(`vllm engine: duplicate request id ${req.id}`);
    // vLLM rejects what can never fit (max_model_len); a request larger than the whole KV pool would wait forever.
    if (this.#kv.blocksFor(prompt + target) > this.options.numGpuBlocks) {
      throw new RangeError(`vllm engine: request ${req.id} needs ${prompt + target} tokens, more than the KV cache holds`);
    }
    const outputIds = (req as VllmEngineRequest).outputTokenIds ?? null;
    const now = this.#sched.now();
    const s: Sequence = {
      id: req.id,
      cb: callbacks,
      promptIds: req.promptTokenIds,
      outputIds,
      prompt,
      target,
      arrivalMs: now,
      state: 'waiting',
      computed: 0,
      output: 0,
      blocks: [],
      promptKeys: [],
      extraKeys: [],
      registered: 0,
      scheduled: 0,
      cachedTokens: 0,
      firstTokenMs: -1,
      lastTokenMs: -1,
    };
    this.#kv.attach(s);
    this.#byId.set(s.id, s);
    this.#waiting.push(s);
    this.#kick();
  }

  cancel(id: string): void {
    const s = this.#byId.get(id);
    if (!s) return;
    if (s.state === 'waiting') this.#waiting.remove(s);
    else {
      const i = this.#running.indexOf(s);
      if (i >= 0) this.#running.splice(i, 1);
    }
    this.#retire(s);
    s.cb.onFinish({ promptTokens: s.prompt, cachedTokens: s.cachedTokens, completionTokens: s.output, reason: 'cancelled' });
  }

  restart(): void {
    this.#epoch++;
    if (this.#handle) this.#sched.cancel(this.#handle);
    this.#handle = null;
    this.#phase = 'idle';
    const all = [...this.#running, ...this.#waiting.toArray()];
    this.#running = [];
    this.#waiting.clear();
    this.#byId.clear();
    this.#batch = [];
    this.#pool.reset();
    this.#events?.cleared();
    this.#events?.endStep();
    // A restarted process starts its counters from zero; scrapers detect the reset.
    this.#stats = new EngineStats(this.options.histogramCap);
    for (const s of all) {
      s.state = 'done';
      s.blocks = [];
      s.cb.onFinish({ promptTokens: s.prompt, cachedTokens: s.cachedTokens, completionTokens: s.output, reason: 'cancelled' });
    }
  }

  gauges(): VllmGauges {
    const st = this.#stats;
    return {
      running: this.#running.length,
      waiting: this.#waiting.size,
      kvUsage: 1 - this.#pool.free / this.#pool.total,
      kvBlocksTotal: this.#pool.total,
      kvBlocksFree: this.#pool.free,
      cachedBlocks: this.#pool.cachedBlocks,
      blockSize: this.options.blockSize,
      prefixQueriesTokens: st.prefixQueriesTokens,
      prefixHitsTokens: st.prefixHitsTokens,
      preemptions: st.preemptions,
      promptTokensTotal: st.promptTokensTotal,
      generationTokensTotal: st.generationTokensTotal,
      requestsFinished: st.requestsFinished,
      steps: st.steps,
      busyMs: st.busyMs,
    };
  }

  snapshot(): EngineSnapshot {
    const g = this.gauges();
    return {
      running: g.running,
      waiting: g.waiting,
      kvUsage: g.kvUsage,
      kvBlocksTotal: g.kvBlocksTotal,
      prefixQueriesTokens: g.prefixQueriesTokens,
      prefixHitsTokens: g.prefixHitsTokens,
      preemptions: g.preemptions,
      promptTokensTotal: g.promptTokensTotal,
      generationTokensTotal: g.generationTokensTotal,
      requestsFinished: g.requestsFinished,
      ...this.#stats.samples(),
    };
  }

  #kick(): void {
    if (this.#phase !== 'idle') return;
    this.#phase = 'kicked';
    // Arrivals join at the next step boundary; going through the scheduler batches simultaneous arrivals.
    this.#handle = this.#sched.at(this.#sched.now(), () => this.#startStep());
  }

  #startStep(): void {
    this.#handle = null;
    this.#phase = 'idle';
    this.#schedule();
    this.#events?.endStep();
    if (this.#batch.length === 0) return;
    const k = this.options;
    const jitter = k.jitterSigma > 0 ? Math.exp(k.jitterSigma * this.#rng.normal() - (k.jitterSigma * k.jitterSigma) / 2) : 1;
    const dur = stepTimeMs(k.cost, this.#load, k.speed) * jitter;
    this.#phase = 'stepping';
    this.#stepStartMs = this.#sched.now();
    const epoch = this.#epoch;
    this.#handle = this.#sched.at(this.#stepStartMs + dur, () => {
      if (epoch === this.#epoch) this.#endStep();
    });
  }

  /** Builds the batch of one step under the token budget (vLLM V1 schedule()). */
  #schedule(): void {
    const batch = this.#batch;
    batch.length = 0;
    const load = (this.#load = emptyStepLoad());
    let budget = this.options.maxNumBatchedTokens;
    let preempted = false;
    const running = this.#running;
    let i = 0;
    outer: while (i < running.length && budget > 0) {
      const s = running[i] as Sequence;
      const n = Math.min(tokensToCompute(s), budget);
      while (!this.#kv.grow(s, n)) {
        const victim = running.pop() as Sequence;
        this.#preempt(victim);
        preempted = true;
        if (victim === s) break outer;
      }
      this.#take(s, n, load);
      budget -= n;
      i++;
    }
    if (preempted) return;
    while (budget > 0 && running.length < this.options.maxNumSeqs) {
      const s = this.#waiting.peek();
      if (!s) break;
      const cached = this.#kv.findCached(s);
      const total = s.prompt + s.output;
      const n = Math.min(total - cached.length * this.options.blockSize, budget);
      // Head-of-line blocking, as in vLLM: if the head does not fit, nothing behind it is admitted this step.
      if (!this.#kv.admit(s, cached, n)) break;
      this.#waiting.shift();
      s.state = 'running';
      running.push(s);
      this.#stats.prefixQueriesTokens += total;
      this.#stats.prefixHitsTokens += s.cachedTokens;
      this.#take(s, n, load);
      budget -= n;
    }
  }

  #take(s: Sequence, n: number, load: StepLoad): void {
    s.scheduled = n;
    this.#kv.commit(s, s.computed + n);
    this.#batch.push(s);
    if (n === 1 && s.output > 0 && tokensToCompute(s) === 1) {
      load.decodeSeqs++;
      load.decodeContext += s.computed + 1;
    } else {
      load.prefillTokens += n;
      load.attentionPairs += n * (s.computed + n / 2);
    }
  }

  #preempt(s: Sequence): void {
    this.#kv.release(s);
    s.state = 'waiting';
    s.scheduled = 0;
    this.#waiting.unshift(s);
    this.#stats.preemptions++;
  }

  #endStep(): void {
    const now = this.#sched.now();
    const epoch = this.#epoch;
    this.#stats.steps++;
    this.#stats.busyMs += now - this.#stepStartMs;
    let finished = 0;
    for (const s of this.#batch) {
      if (s.state !== 'running' || s.scheduled === 0) continue;
      s.computed += s.scheduled;
      s.scheduled = 0;
      if (s.computed < s.prompt + s.output) continue;
      this.#emit(s, now);
      if (epoch !== this.#epoch) return;
      if (s.output >= s.target) {
        this.#retire(s);
        finished++;
        s.cb.onFinish({ promptTokens: s.prompt, cachedTokens: s.cachedTokens, completionTokens: s.output, reason: 'finished' });
        if (epoch !== this.#epoch) return;
      }
    }
    this.#batch.length = 0;
    if (finished > 0) this.#running = this.#running.filter((s) => s.state === 'running');
    this.#phase = 'idle';
    if (this.#running.length > 0 || this.#waiting.size > 0) this.#startStep();
  }

  #emit(s: Sequence, now: number): void {
    const index = s.output;
    s.output++;
    const st = this.#stats;
    st.generationTokensTotal++;
    if (index === 0) {
      s.firstTokenMs = now;
      st.promptTokensTotal += s.prompt;
      st.ttft((now - s.arrivalMs) / 1000);
    } else st.itl((now - s.lastTokenMs) / 1000);
    s.lastTokenMs = now;
    s.cb.onToken(index);
  }

  /** Leaves the engine for good: blocks back to the pool (they stay cached), id forgotten. */
  #retire(s: Sequence): void {
    if (s.state === 'running') this.#kv.release(s);
    if (s.state === 'running' || s.state === 'waiting') {
      if (s.output >= s.target) {
        this.#stats.requestsFinished++;
        this.#stats.e2e((this.#sched.now() - s.arrivalMs) / 1000);
      }
    }
    s.state = 'done';
    this.#byId.delete(s.id);
  }
}
