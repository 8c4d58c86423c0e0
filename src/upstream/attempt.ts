import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { util, type Dispatcher } from 'undici';
import { timerDelay } from '../core/index.js';
import { decodeErrorBody, decodingConsumer, DecodingConsumer } from './content-coding.js';
import { CONTENT_ENCODING, CONTENT_TYPE, headerOf } from './raw-header.js';
import { classifyNetworkError, deadlineFailure, UpstreamFailure } from './errors.js';
import { clientStatusFor, normaliseBackendError } from './normalise-error.js';
import type { BackendPools } from './pools.js';

export interface AttemptBackend {
  readonly id: string;
  /** How client-facing error messages name the backend (never its URL). */
  readonly label: string;
  readonly origin: string;
  readonly authorization: string | null;
}

export interface AttemptDeadlines {
  /** Stream: until the first body byte. Non-stream requests have no first-byte phase (the whole answer is generated first). */
  readonly firstByteMs: number;
  /** Stream: between body chunks once the first has arrived, not counting time paused for a slow client. */
  readonly idleMs: number;
  /** Absolute monotonic time by which the whole request must be done. */
  readonly endMs: number;
  /** The config key behind `endMs` and its configured duration, named in the timeout message. */
  readonly endName: 'total' | 'request';
  readonly endLimitMs: number;
  /**
   * The end deadline cutting an attempt before its response head is held against the backend only once the attempt
   * was given at least this long (default 0: always). A retry given only what earlier attempts left of the deadline
   * proves nothing about its backend.
   */
  readonly endBlameAfterMs?: number;
}

/** Which deadline ended an attempt; each names its config key (`server.timeouts.<phase>`). */
export type DeadlinePhase = 'first_byte' | 'idle' | 'total' | 'request';

/**
 * The client side of a request, shared by all its attempts: when the client goes away, the current attempt is
 * aborted at once so the backend sees it and frees its GPU time. A plain object, not an AbortSignal: no EventTarget
 * per request.
 */
export interface ClientLink {
  gone: boolean;
  /**
   * Set with `gone` when the gateway itself ends the request (its drain deadline passed): the attempt is aborted
   * with the reason 'shutdown', so the relay ends the stream with an error event and the request is not a 499.
   */
  shutdown: boolean;
  onGone: (() => void) | null;
}

/** Why an attempt was aborted: the client left, a deadline passed, or the gateway is shutting down. */
export type AbortReason = 'client' | 'timeout' | 'shutdown';

export interface AttemptSpec {
  readonly backend: AttemptBackend;
  readonly path: string;
  /** A buffer, or an upload streamed as it arrives (the audio endpoints), or null (GET, DELETE). */
  readonly body: Buffer | Readable | null;
  /** Default (also when undefined) POST. */
  readonly method?: 'GET' | 'POST' | 'DELETE' | undefined;
  /** Default (also when undefined) `application/json`. */
  readonly contentType?: string | undefined;
  readonly stream: boolean;
  readonly deadlines: AttemptDeadlines;
  /** Extra request headers (traceparent, x-request-id); content headers and authorization are set here. */
  readonly headers: Record<string, string>;
  readonly now: () => number;
  readonly client: ClientLink;
}

/** Receives a 2xx response body. Exactly one of end / error is called, once. */
export interface AttemptConsumer {
  data(chunk: Buffer): void;
  end(): void;
  error(failure: UpstreamFailure): void;
}

/** A backend response whose status is below 400 and whose body has not been consumed yet. */
export interface OpenAttempt {
  /** How client-facing error messages name the backend. */
  readonly backendLabel: string;
  readonly status: number;
  /** The response's headers, parsed when first read (most requests need only `contentType`). */
  readonly headers: IncomingHttpHeaders;
  /** The response's Content-Type (the first, if sent twice), without parsing the other headers. */
  readonly contentType: string | undefined;
  /** Starts delivering the body (chunks that arrived early are delivered first). */
  consume(consumer: AttemptConsumer): void;
  /** Backpressure: stop and restart reading from the backend socket. */
  pause(): void;
  resume(): void;
  abort(reason: AbortReason): void;
  abortReason(): AbortReason | null;
}

const MAX_ERROR_BODY = 64 * 1024;
const NO_HEADERS: IncomingHttpHeaders = Object.freeze({});
const enum Phase {
  Head,
  Body,
  ErrorBody,
  Done,
}

/**
 * One upstream attempt as an undici dispatch handler. Compared with `Pool.request`, it creates no body stream, no
 * AbortController and no promise per chunk: chunks go straight to the consumer. One timer per attempt enforces the
 * deadlines: chunks only record the time, and the timer re-arms itself when it fires early.
 *
 * It implements the handler interface undici 7's core calls itself (onConnect, onHeaders, onData, onComplete,
 * onError). A handler with the newer controller interface (onRequestStart …) is wrapped per request in an adapter that
 * parses every response header into an object (~0.6 µs for a typical head) and makes two objects; this one keeps the
 * raw headers and reads Content-Type alone. Backpressure is the same as the adapter's: onData answers false while
 * paused, and `resume` restarts the socket. undici 8 (Node >= 22.19) calls the controller interface directly, without
 * the adapter: switch to it with that upgrade (test/unit/attempt-handler.test.ts fails if undici stops calling
 * these).
 */
class Attempt implements Dispatcher.DispatchHandler, OpenAttempt {
  readonly backendLabel: string;
  status = 0;
  /** The response head's raw name/value pairs once it came (until then none: nothing reads headers before). */
  #rawHeaders: readonly Buffer[] | null = null;
  #headers: IncomingHttpHeaders | null = null;
  contentType: string | undefined = undefined;
  /** The response's Content-Encoding, when it sent one (undefined for nearly every backend). */
  #contentEncoding: string | undefined = undefined;
  #decoder: DecodingConsumer | null = null;
  readonly #spec: AttemptSpec;
  #abortDispatch: ((err?: Error) => void) | null = null;
  #resumeDispatch: (() => void) | null = null;
  #reason: AbortReason | null = null;
  #phase = Phase.Head;
  #resolve!: (a: OpenAttempt) => void;
  #reject!: (err: unknown) => void;
  readonly head: Promise<OpenAttempt>;
  /** The body of an error response (made only for one). */
  #errorParts: Buffer[] | null = null;
  #errorSize = 0;
  #consumer: AttemptConsumer | null = null;
  #early: Buffer[] | null = null;
  #earlyEnd = false;
  #earlyFailure: UpstreamFailure | null = null;
  // deadline state
  #timer: NodeJS.Timeout | null = null;
  #last: number;
  readonly #startedAt: number;
  #limit: number;
  #phaseName: DeadlinePhase;
  #fired: DeadlinePhase | null = null;
  /** Paused for a slow client: the idle clock stops, so a slow reader never counts against the backend. */
  #paused = false;
  #pausedWhenFired = false;

  constructor(spec: AttemptSpec) {
    this.#spec = spec;
    this.backendLabel = spec.backend.label;
    this.head = new Promise<OpenAttempt>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#last = this.#startedAt = spec.now();
    this.#limit = spec.stream ? spec.deadlines.firstByteMs : 0;
    this.#phaseName = 'first_byte';
    this.#arm();
  }

  #arm(): void {
    const d = this.#spec.deadlines;
    const now = this.#spec.now();
    let due = Math.min(this.#limit > 0 && !this.#paused ? this.#last + this.#limit : Infinity, d.endMs);
    // Before a stream's first chunk the timer also wakes by the idle deadline a chunk arriving now would start, so the
    // first chunk switches to that deadline without re-arming (a timer cleared and made again per stream).
    if (this.#phaseName === 'first_byte' && this.#spec.stream) due = Math.min(due, now + d.idleMs);
    if (due === Infinity) return;
    this.#timer = setTimeout(() => this.#fire(), timerDelay(Math.max(1, Math.ceil(due - now))));
    this.#timer.unref();
  }

  #rearm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#phase !== Phase.Done) this.#arm();
  }

  #fire(): void {
    this.#timer = null;
    if (this.#phase === Phase.Done) return;
    const now = this.#spec.now();
    const d = this.#spec.deadlines;
    if (now >= d.endMs) this.#timeout(d.endName);
    else if (this.#limit > 0 && !this.#paused && now - this.#last >= this.#limit) this.#timeout(this.#phaseName);
    else this.#arm();
  }

  #timeout(phase: DeadlinePhase): void {
    this.#fired = phase;
    this.#pausedWhenFired = this.#paused;
    this.abort('timeout');
  }

  #finish(): void {
    this.#phase = Phase.Done;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#spec.client.onGone === this.#onClientGone) this.#spec.client.onGone = null;
  }

  readonly #onClientGone = () => this.abort(this.#spec.client.shutdown ? 'shutdown' : 'client');

  start(pools: BackendPools): void {
    const spec = this.#spec;
    if (spec.client.gone) {
      this.#reason = spec.client.shutdown ? 'shutdown' : 'client';
      this.#phase = Phase.Done;
      this.#reject(classifyNetworkError(null, this.backendLabel, { client: true, timeout: false, shutdown: spec.client.shutdown }));
      return;
    }
    spec.client.onGone = this.#onClientGone;
    const headers: Record<string, string> = spec.headers;
    if (spec.body !== null) headers['content-type'] = spec.contentType ?? 'application/json';
    headers.accept = spec.stream ? 'text/event-stream' : 'application/json';
    // Bodies are read for usage and errors, and relayed to clients under the gateway's own head.
    headers['accept-encoding'] = 'identity';
    if (spec.backend.authorization) headers.authorization = spec.backend.authorization;
    pools.get(spec.backend.origin).dispatch({ method: spec.method ?? 'POST', path: spec.path, headers, body: spec.body }, this);
  }

  // --- undici handler -------------------------------------------------------------------------------------------

  get headers(): IncomingHttpHeaders {
    if (this.#headers === null) this.#headers = this.#rawHeaders === null ? NO_HEADERS : (util.parseHeaders(this.#rawHeaders as Buffer[]) as IncomingHttpHeaders);
    return this.#headers;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abortDispatch = abort;
    if (this.#reason !== null) abort(new Error(this.#reason));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    this.#resumeDispatch = resume;
    if (statusCode < 200) return !this.#paused; // 1xx informational
    this.status = statusCode;
    this.#rawHeaders = rawHeaders;
    this.contentType = headerOf(rawHeaders, CONTENT_TYPE);
    this.#contentEncoding = headerOf(rawHeaders, CONTENT_ENCODING);
    if (statusCode >= 400) {
      this.#phase = Phase.ErrorBody;
      return !this.#paused;
    }
    this.#phase = Phase.Body;
    this.#resolve(this);
    return !this.#paused;
  }

  onData(chunk: Buffer): boolean {
    this.#onData(chunk);
    return !this.#paused;
  }

  #onData(chunk: Buffer): void {
    this.#last = this.#spec.now();
    if (this.#phaseName === 'first_byte' && this.#spec.stream) {
      // The first chunk ends the first-byte phase: the idle deadline applies from now. The timer is due by then
      // already (#arm), and re-arms itself if it fires early.
      this.#phaseName = 'idle';
      this.#limit = this.#spec.deadlines.idleMs;
    }
    if (this.#phase === Phase.Body) {
      if (this.#consumer) this.#consumer.data(chunk);
      else (this.#early ??= []).push(chunk);
    } else if (this.#phase === Phase.ErrorBody && this.#errorSize < MAX_ERROR_BODY) {
      (this.#errorParts ??= []).push(chunk.subarray(0, MAX_ERROR_BODY - this.#errorSize));
      this.#errorSize += chunk.length;
    }
  }

  onComplete(): void {
    const phase = this.#phase;
    this.#finish();
    if (phase === Phase.ErrorBody) {
      const raw = Buffer.concat(this.#errorParts ?? []);
      const body = this.#contentEncoding === undefined ? raw : decodeErrorBody(raw, this.#contentEncoding, MAX_ERROR_BODY);
      const clientError = normaliseBackendError(this.status, this.contentType, body, this.backendLabel, this.headers);
      // 5xx (TGI's 424 among them), 429 and a backend refusing the gateway's credentials may succeed elsewhere; other
      // 4xx are the caller's.
      const status = clientStatusFor(this.status);
      if (status === 429) this.#reject(new UpstreamFailure('status_429', clientError));
      else if (status >= 500 || status === 401 || status === 403) this.#reject(new UpstreamFailure('status_5xx', clientError));
      else this.#reject(clientError);
      return;
    }
    if (this.#consumer) this.#consumer.end();
    else this.#earlyEnd = true;
  }

  onError(err: Error): void {
    const phase = this.#phase;
    if (phase === Phase.Done) return;
    this.#finish();
    const failure =
      this.#reason === 'timeout' && this.#fired !== null
        ? // A whole-request deadline reached while a stream flows measures the request as much as the backend (a long
          // generation at full speed runs into it, and any caller can ask for one): not held against the backend. A
          // backend that sent nothing at all (no response head: hung, or a non-streamed answer never came) is, when it
          // was given long enough (endBlameAfterMs).
          deadlineFailure(this.#fired, this.backendLabel, this.#spec.deadlines, !this.#pausedWhenFired && this.#blame(this.#fired, phase))
        : classifyNetworkError(err, this.backendLabel, { client: this.#reason === 'client', timeout: this.#reason === 'timeout', shutdown: this.#reason === 'shutdown' });
    if (phase !== Phase.Body) this.#reject(failure);
    else if (this.#consumer) this.#consumer.error(failure);
    else this.#earlyFailure = failure;
  }

  /** Whether a deadline that ended the attempt in `phase` is the backend's fault (a slow client's pause aside). */
  #blame(fired: DeadlinePhase, phase: Phase): boolean {
    if (fired === 'first_byte' || fired === 'idle') return true;
    const d = this.#spec.deadlines;
    return phase !== Phase.Body && (d.endBlameAfterMs === undefined || d.endMs - this.#startedAt >= d.endBlameAfterMs);
  }

  // --- OpenAttempt ----------------------------------------------------------------------------------------------

  consume(to: AttemptConsumer): void {
    let consumer: AttemptConsumer | null = to;
    if (this.#contentEncoding !== undefined) {
      consumer = decodingConsumer(to, this.#contentEncoding, this.backendLabel, this);
      if (consumer === null) {
        // Failed already (a coding the gateway cannot decode): nothing more of this body is read.
        this.#consumer = IGNORED;
        this.#early = null;
        return;
      }
      if (consumer instanceof DecodingConsumer) this.#decoder = consumer;
    }
    this.#consumer = consumer;
    const early = this.#early;
    this.#early = null;
    if (early) for (const chunk of early) consumer.data(chunk);
    if (this.#earlyEnd) consumer.end();
    else if (this.#earlyFailure) consumer.error(this.#earlyFailure);
  }

  pause(): void {
    if (this.#paused) return;
    // Takes effect as the answer to the next onData (undici reads on until then, as with its controller's pause).
    this.#paused = true;
    this.#decoder?.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    // Idleness is counted again from now: the time the client kept the backend paused is not the backend's.
    this.#last = this.#spec.now();
    this.#decoder?.resume();
    this.#resumeDispatch?.();
    this.#rearm();
  }

  abort(reason: AbortReason): void {
    if (this.#reason !== null || this.#phase === Phase.Done) return;
    this.#reason = reason;
    this.#abortDispatch?.(new Error(reason));
  }

  abortReason(): AbortReason | null {
    return this.#reason;
  }
}

const IGNORED: AttemptConsumer = { data() {}, end() {}, error() {} };

/**
 * Sends the request and waits for the response head. Resolves with a 2xx/3xx response ready to relay, or rejects
 * with an UpstreamFailure (retryable: connect error, reset, timeout, 5xx, 429) or a GatewayError (a backend 4xx,
 * normalised, passed to the client as is).
 */
export function openAttempt(pools: BackendPools, spec: AttemptSpec): Promise<OpenAttempt> {
  const attempt = new Attempt(spec);
  attempt.start(pools);
  return attempt.head;
}
