import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { classifyNetworkError, UpstreamFailure } from './errors.js';
import { normaliseBackendError } from './normalise-error.js';
import type { BackendPools } from './pools.js';

export interface AttemptBackend {
  readonly id: string;
  readonly origin: string;
  readonly authorization: string | null;
}

export interface AttemptDeadlines {
  /** Stream: until the first body byte. Non-stream requests have no first-byte phase (the whole answer is generated first). */
  readonly firstByteMs: number;
  /** Between body chunks once the first has arrived. */
  readonly idleMs: number;
  /** Absolute monotonic time by which the whole request must be done. */
  readonly totalEndMs: number;
}

export interface AttemptSpec {
  readonly backend: AttemptBackend;
  readonly path: string;
  readonly body: Buffer;
  readonly stream: boolean;
  readonly deadlines: AttemptDeadlines;
  /** Extra request headers (traceparent, x-request-id); content headers and authorization are set here. */
  readonly headers: Record<string, string>;
  readonly now: () => number;
  /** Aborted when the client goes away: the backend must see the abort at once so its GPU time is freed. */
  readonly clientSignal?: AbortSignal;
}

/**
 * An upstream response whose status is below 400 and whose body is not yet read. `abort` ends it (client gone);
 * `touch` marks activity for the idle deadline; `done` clears the deadline timer.
 */
export interface OpenAttempt {
  readonly backendId: string;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Dispatcher.ResponseData['body'];
  readonly signal: AbortSignal;
  /** Why the attempt was aborted, when it was: 'client' | 'timeout'. */
  abortReason(): 'client' | 'timeout' | null;
  abort(reason: 'client' | 'timeout'): void;
  touch(): void;
  done(): void;
}

/**
 * One timer per attempt whatever its length: chunks only record the time, the timer re-arms itself when it fires
 * early. No timer or promise is created per chunk.
 */
class DeadlineTimer {
  #timer: NodeJS.Timeout | null = null;
  #last: number;
  #limit: number;
  readonly #idle: number;
  readonly #totalEnd: number;
  readonly #now: () => number;
  readonly #onExpire: () => void;

  constructor(d: AttemptDeadlines, firstLimit: number, now: () => number, onExpire: () => void) {
    this.#now = now;
    this.#last = now();
    this.#limit = firstLimit;
    this.#idle = d.idleMs;
    this.#totalEnd = d.totalEndMs;
    this.#onExpire = onExpire;
    this.#arm();
  }

  #arm(): void {
    const now = this.#now();
    const due = Math.min(this.#limit > 0 ? this.#last + this.#limit : Infinity, this.#totalEnd);
    if (due === Infinity) return;
    const wait = Math.max(1, Math.ceil(due - now));
    this.#timer = setTimeout(() => this.#fire(), wait);
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = null;
    const now = this.#now();
    if (now >= this.#totalEnd || (this.#limit > 0 && now - this.#last >= this.#limit)) this.#onExpire();
    else this.#arm();
  }

  touch(): void {
    this.#last = this.#now();
    this.#limit = this.#idle;
  }

  clear(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}

const MAX_ERROR_BODY = 64 * 1024;

async function readErrorBody(body: Dispatcher.ResponseData['body']): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const b = chunk as Buffer;
      if (size < MAX_ERROR_BODY) parts.push(b.subarray(0, MAX_ERROR_BODY - size));
      size += b.length;
    }
  } catch {
    // A truncated error body still tells us the status.
  }
  return Buffer.concat(parts);
}

/**
 * Sends the request and waits for the response head. Resolves with a 2xx/3xx response ready to relay, or rejects
 * with an UpstreamFailure (retryable: connect error, reset, timeout, 5xx, 429) or a GatewayError (a backend 4xx,
 * normalised, passed to the client as is).
 */
export async function openAttempt(pools: BackendPools, spec: AttemptSpec): Promise<OpenAttempt> {
  const controller = new AbortController();
  let reason: 'client' | 'timeout' | null = null;
  const abort = (why: 'client' | 'timeout') => {
    if (reason !== null) return;
    reason = why;
    controller.abort();
  };
  const clientSignal = spec.clientSignal;
  if (clientSignal) {
    if (clientSignal.aborted) abort('client');
    else clientSignal.addEventListener('abort', () => abort('client'), { once: true });
  }
  const firstLimit = spec.stream ? spec.deadlines.firstByteMs : 0;
  const timer = new DeadlineTimer(spec.deadlines, firstLimit, spec.now, () => abort('timeout'));
  const headers: Record<string, string> = {
    ...spec.headers,
    'content-type': 'application/json',
    accept: spec.stream ? 'text/event-stream' : 'application/json',
  };
  if (spec.backend.authorization) headers.authorization = spec.backend.authorization;

  let res: Dispatcher.ResponseData;
  try {
    res = await pools.get(spec.backend.origin).request({
      method: 'POST',
      path: spec.path,
      headers,
      body: spec.body,
      signal: controller.signal,
    });
  } catch (err) {
    timer.clear();
    throw classifyNetworkError(err, spec.backend.id, { client: reason === 'client', timeout: reason === 'timeout' });
  }

  if (res.statusCode >= 400) {
    const body = await readErrorBody(res.body);
    timer.clear();
    if (reason !== null) throw classifyNetworkError(null, spec.backend.id, { client: reason === 'client', timeout: reason === 'timeout' });
    const ct = res.headers['content-type'];
    const clientError = normaliseBackendError(res.statusCode, Array.isArray(ct) ? ct[0] : ct, body, spec.backend.id);
    if (res.statusCode === 429) throw new UpstreamFailure('status_429', clientError);
    if (res.statusCode >= 500) throw new UpstreamFailure('status_5xx', clientError);
    if (res.statusCode === 401 || res.statusCode === 403) throw new UpstreamFailure('status_5xx', clientError);
    throw clientError;
  }

  return {
    backendId: spec.backend.id,
    status: res.statusCode,
    headers: res.headers,
    body: res.body,
    signal: controller.signal,
    abortReason: () => reason,
    abort,
    touch: () => timer.touch(),
    done: () => timer.clear(),
  };
}

