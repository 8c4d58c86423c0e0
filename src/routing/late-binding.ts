import { GatewayError } from '../core/index.js';
import { GatewayQueue, type QueueItem, type QueueOptions } from './gateway-queue.js';
import type { RequestProfile } from './request-profile.js';
import type { BackendTarget, PoolSpec, RouteRequest } from './types.js';

/** Deferred calls; real timers in the gateway, the virtual scheduler in the discrete-event benchmark. */
export interface Timers {
  after(ms: number, fn: () => void): () => void;
}

/** How a queued request learns its fate. */
export interface Waiter {
  resolve(order: BackendTarget[]): void;
  reject(err: GatewayError): void;
}

export interface QueuedHandle {
  cancel(): void;
}

export interface Queued {
  readonly pool: PoolSpec;
  readonly candidates: readonly BackendTarget[];
  readonly req: RouteRequest;
  readonly profile: RequestProfile;
  readonly waiter: Waiter;
  cancelTimer: () => void;
}

export interface LateBindingDeps {
  readonly timers: Timers;
  readonly queue: QueueOptions | undefined;
  /** Whether some candidate of this queued request can take it now. */
  readonly canDispatch: (q: Queued) => boolean;
  /** Binds it (ranks and reserves the best candidate). */
  readonly dispatch: (q: Queued) => BackendTarget[];
  /** Seconds a client should wait before retrying, from the backlog ahead. */
  readonly retryAfterSeconds: (queuedPromptTokens: number) => number;
}

/**
 * The gateway queue of late binding: one bounded SJF-with-aging queue per pool (so one model's saturated fleet never
 * holds up another's), drained on every capacity signal, each request refused with 429 + Retry-After once it has
 * waited the maximum.
 */
export class LateBinding {
  readonly #deps: LateBindingDeps;
  readonly #queues = new Map<string, GatewayQueue<Queued>>();
  #pumping = false;

  constructor(deps: LateBindingDeps) {
    this.#deps = deps;
  }

  get size(): number {
    let n = 0;
    for (const q of this.#queues.values()) n += q.size;
    return n;
  }

  /** Requests already waiting for this pool go first: a newcomer does not overtake them by binding directly. */
  hasQueued(pool: string): boolean {
    return (this.#queues.get(pool)?.size ?? 0) > 0;
  }

  enqueue(q: Queued, now: number): QueuedHandle {
    const queue = this.#queue(q.pool.name);
    // SJF on the time to first token it needs: its prompt's prefill at ~20 µs/token (cache hits are unknown until it
    // is bound, and output length does not delay the requests behind it in the engine's prefill queue).
    const serviceMs = q.profile.promptTokens * 0.02;
    const item = queue.push(q, now, serviceMs);
    if (!item) throw rateLimited('The gateway queue is full.', this.#retryAfter(queue));
    q.cancelTimer = this.#deps.timers.after(queue.maxWaitMs, () => {
      if (queue.remove(item)) q.waiter.reject(rateLimited('Every backend stayed saturated for the maximum queue wait.', this.#retryAfter(queue)));
    });
    return {
      cancel: () => {
        if (queue.remove(item as QueueItem<Queued>)) q.cancelTimer();
      },
    };
  }

  /** Dispatches queued requests, per pool in priority order, while their candidates have capacity. */
  pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (const queue of this.#queues.values()) {
        for (;;) {
          const top = queue.peek();
          if (!top || !this.#deps.canDispatch(top.payload)) break;
          queue.pop();
          top.payload.cancelTimer();
          top.payload.waiter.resolve(this.#deps.dispatch(top.payload));
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  #queue(pool: string): GatewayQueue<Queued> {
    let q = this.#queues.get(pool);
    if (!q) this.#queues.set(pool, (q = new GatewayQueue(this.#deps.queue)));
    return q;
  }

  #retryAfter(queue: GatewayQueue<Queued>): number {
    let tokens = 0;
    for (const item of queue.ordered()) tokens += item.payload.profile.promptTokens;
    return this.#deps.retryAfterSeconds(tokens);
  }
}

function rateLimited(message: string, retryAfter: number): GatewayError {
  return new GatewayError('rate_limited', message, { headers: { 'retry-after': String(retryAfter) }, wireCode: 'rate_limit_exceeded' });
}
