/**
 * The simple latency model: every admitted request runs independently; time to first token and inter-token latency
 * grow linearly with the number of running requests, so load-aware balancing has something to see. No prefix cache
 * (cachedTokens is always 0). KV usage is the blocks held by running requests, for the gauge only (never a limit).
 */
import type { EngineCallbacks, EngineRequest, EngineSnapshot, Scheduler, SchedulerHandle, SimEngine } from './types.js';

export interface SimpleEngineOptions {
  /** Base time to first token, simulated ms. Default 40. */
  ttftMs?: number;
  /** Base inter-token latency, simulated ms. Default 8. */
  itlMs?: number;
  /** Speed multiplier; 2 = twice as fast. Default 1. */
  speed?: number;
  /** Requests running at once; more wait FIFO. Default 256. */
  maxRunning?: number;
  /** KV capacity in 16-token blocks, for the usage gauge. Default 29205. */
  kvBlocks?: number;
}

const BLOCK_SIZE = 16;
const PREFILL_MS_PER_TOKEN = 0.02;
const TTFT_LOAD_FACTOR = 0.1;
const ITL_LOAD_FACTOR = 0.05;
/** Latency samples kept for snapshot(); the contract lets engines cap them. */
const SAMPLE_CAP = 4096;

interface Running {
  readonly req: EngineRequest;
  readonly cb: EngineCallbacks;
  readonly submittedAt: number;
  emitted: number;
  /** Simulated time the next token is due; advanced from the previous due time so timer lateness never accumulates. */
  dueAt: number;
  handle: SchedulerHandle | undefined;
}

function pushCapped(samples: number[], value: number): void {
  samples.push(value);
  if (samples.length > SAMPLE_CAP) samples.splice(0, samples.length - SAMPLE_CAP / 2);
}

export function createSimpleEngine(scheduler: Scheduler, options: SimpleEngineOptions = {}): SimEngine {
  const ttftMs = options.ttftMs ?? 40;
  const itlMs = options.itlMs ?? 8;
  const speed = options.speed ?? 1;
  const maxRunning = options.maxRunning ?? 256;
  const kvBlocksTotal = options.kvBlocks ?? 29205;
  if (!(speed > 0)) throw new RangeError(`speed must be > 0, got ${speed}`);

  const running = new Map<string, Running>();
  const waiting: Running[] = [];
  const ttftSeconds: number[] = [];
  const itlSeconds: number[] = [];
  const e2eSeconds: number[] = [];
  let prefixQueriesTokens = 0;
  let promptTokensTotal = 0;
  let generationTokensTotal = 0;
  let requestsFinished = 0;

  function admit(r: Running): void {
    const others = running.size;
    running.set(r.req.id, r);
    const prompt = r.req.promptTokenIds.length;
    prefixQueriesTokens += prompt;
    const ttft = ((ttftMs + prompt * PREFILL_MS_PER_TOKEN) * (1 + TTFT_LOAD_FACTOR * others)) / speed;
    r.dueAt = scheduler.now() + ttft;
    r.handle = scheduler.at(r.dueAt, () => step(r));
  }

  function admitWaiting(): void {
    while (running.size < maxRunning && waiting.length > 0) admit(waiting.shift() as Running);
  }

  function step(r: Running): void {
    r.handle = undefined;
    if (r.req.outputTokens <= 0) return finish(r, 'finished');
    // Emit every token already due, then wait for the next: at small time scales timers fire late (~1 ms at best),
    // and one timer per token would cap a stream at about one token per real millisecond.
    for (;;) {
      const index = r.emitted++;
      generationTokensTotal++;
      if (index === 0) pushCapped(ttftSeconds, (scheduler.now() - r.submittedAt) / 1000);
      r.cb.onToken(index);
      // onToken may have cancelled this very request (a fault, a client gone): never schedule after that.
      if (running.get(r.req.id) !== r) return;
      if (r.emitted >= r.req.outputTokens) return finish(r, 'finished');
      const itl = (itlMs * (1 + ITL_LOAD_FACTOR * (running.size - 1))) / speed;
      pushCapped(itlSeconds, itl / 1000);
      r.dueAt += itl;
      if (r.dueAt > scheduler.now()) break;
    }
    r.handle = scheduler.at(r.dueAt, () => step(r));
  }

  function finish(r: Running, reason: 'finished' | 'cancelled'): void {
    if (r.handle) scheduler.cancel(r.handle);
    r.handle = undefined;
    const wasRunning = running.delete(r.req.id);
    const prompt = r.req.promptTokenIds.length;
    if (reason === 'finished') {
      requestsFinished++;
      promptTokensTotal += prompt;
      pushCapped(e2eSeconds, (scheduler.now() - r.submittedAt) / 1000);
    }
    r.cb.onFinish({ promptTokens: prompt, cachedTokens: 0, completionTokens: r.emitted, reason });
    if (wasRunning) admitWaiting();
  }

  return {
    submit(req: EngineRequest, cb: EngineCallbacks): void {
      const r: Running = { req, cb, submittedAt: scheduler.now(), emitted: 0, dueAt: 0, handle: undefined };
      if (running.size < maxRunning) admit(r);
      else waiting.push(r);
    },
    cancel(id: string): void {
      const r = running.get(id);
      if (r) return finish(r, 'cancelled');
      const i = waiting.findIndex((w) => w.req.id === id);
      if (i >= 0) finish(waiting.splice(i, 1)[0] as Running, 'cancelled');
    },
    snapshot(): EngineSnapshot {
      let blocks = 0;
      for (const r of running.values()) blocks += Math.ceil((r.req.promptTokenIds.length + r.emitted) / BLOCK_SIZE);
      return {
        running: running.size,
        waiting: waiting.length,
        kvUsage: kvBlocksTotal > 0 ? Math.min(1, blocks / kvBlocksTotal) : 0,
        kvBlocksTotal,
        prefixQueriesTokens,
        prefixHitsTokens: 0,
        preemptions: 0,
        promptTokensTotal,
        generationTokensTotal,
        requestsFinished,
        ttftSeconds,
        itlSeconds,
        e2eSeconds,
      };
    },
    restart(): void {
      // Waiting ones first, so that cancelling the running ones does not admit them.
      for (const r of waiting.splice(0)) finish(r, 'cancelled');
      for (const r of [...running.values()]) finish(r, 'cancelled');
    },
  };
}
