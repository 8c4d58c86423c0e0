import type { ServerResponse } from 'node:http';
import { GatewayError } from '../core/index.js';
import type { AttemptConsumer, OpenAttempt } from './attempt.js';
import { UpstreamFailure } from './errors.js';
import { errorFieldData, eventData, SseEventTooLarge, SseScanner, terminatedEvent, type EventVisitor } from './sse-scanner.js';
import { fixFinishReasons, type FinishReasonSet } from './finish-reason.js';
import type { Heartbeat } from './heartbeat.js';
import { normaliseErrorEvent } from './normalise-error.js';
import { findUsage, withoutUsage, type BackendUsage } from './usage-tap.js';
import { jsonKey } from './json-key.js';
import { has, KeyNeedle, Needle, startsWithObjectError } from './needles.js';

/** How a relayed stream ended; 'shutdown': the gateway's drain deadline cut it (see ClientLink.shutdown). */
export type StreamEnd = 'done' | 'client_abort' | 'shutdown' | 'upstream_dropped' | 'upstream_timeout' | 'upstream_error_event' | 'event_too_large';

export interface StreamResult {
  end: StreamEnd;
  usage: BackendUsage | null;
  /** Content events relayed (roughly one per decode step), the fallback for completion tokens on aborts. */
  contentEvents: number;
  /** False when the stream ended on a deadline the client caused (it kept the backend paused). */
  backendAtFault: boolean;
}

export interface StreamRelayOptions {
  /** Headers for the client, sent as soon as the backend has accepted the stream (unless an earlier attempt did). */
  headers: Record<string, string | number>;
  /** Drop the usage-only chunk: the gateway asked for it, the client did not. */
  stripUsageChunk: boolean;
  /** Which OpenAI `finish_reason` values are valid for this endpoint. */
  finishReasons: FinishReasonSet;
  /** Largest single event accepted from the backend. */
  maxEventBytes: number;
  /** Keeps the connection visibly alive until the first token; owned by the request, so it spans retries. */
  heartbeat: Heartbeat | null;
  onFirstByte(): void;
  /** Called with the number of content events relayed in each turn (the chunks read together), for live load tracking. */
  onEvents?(n: number): void;
}

const DONE = Buffer.from('[DONE]');
const DONE_FRAME = Buffer.from('data: [DONE]\n\n');
const USAGE_KEY = jsonKey('usage');
const EMPTY_CHOICES = Buffer.from('"choices":[]');
const EMPTY_CHOICES_SPACED = Buffer.from('"choices": []');
const ERROR_KEY = Buffer.from('{"error"');
const FINISH_KEY = jsonKey('finish_reason');

/** The final SSE event that tells an SDK the stream failed: the same envelope as an HTTP error. */
export function sseErrorEvent(err: GatewayError): string {
  return `data: ${JSON.stringify({ error: { message: err.message, type: err.type, param: err.param, code: err.wireCode } })}\n\n`;
}

const DROPPED = () => new GatewayError('upstream_error', 'The backend closed the stream before it finished; the response is incomplete.');
const TOO_LARGE = (limit: number) =>
  new GatewayError('upstream_error', `The backend sent an SSE event larger than server.max_event_size (${limit} bytes); the response is incomplete.`, {
    wireCode: 'upstream_event_too_large',
  });

/**
 * Upstream chunks that arrive in one event-loop turn are scanned and written together, up to this many bytes (then
 * at once): an engine that writes several events at a time reaches the gateway as one socket read that undici hands
 * over one HTTP chunk (one event) at a time, and each `res.write` costs a chunk header, four buffered-write entries and
 * their share of the writev (a stream of 20 events written one by one cost ~15 µs more CPU than written at once).
 * A turn delivers at most one socket read (64 KiB); the cap bounds what is held and copied per write well below it.
 */
const COALESCE_BYTES = 16 * 1024;

/**
 * Relays an SSE response byte for byte with end-to-end backpressure: when the client's socket buffer is full the
 * backend socket is paused, so memory stays bounded by one chunk (and one event, capped). The response head goes out
 * as soon as the backend accepts; a failure before the first data byte rejects with an UpstreamFailure (the caller
 * may still retry, invisibly); after it, the stream ends with one SSE error event in OpenAI's envelope and never
 * looks like success. Engine error events are normalised to that envelope too, and end the stream.
 */
export function relaySse(attempt: OpenAttempt, out: ServerResponse, opts: StreamRelayOptions): Promise<StreamResult> {
  return new Promise<StreamResult>((resolve, reject) => new SseRelay(attempt, out, opts, resolve, reject).start());
}

/** Flushes the head of a stream whose first event did not come in the turn the backend accepted it. */
function flushHead(relay: SseRelay): void {
  relay.flushHead();
}

/** Scans and writes what arrived in this turn (scheduled by the turn's first chunk). */
function drainTurn(relay: SseRelay): void {
  relay.drain();
}

/**
 * One stream's relay: the attempt's consumer and the scanner's visitor. A class, so that its methods live on the
 * prototype: a closure per handler and per state variable cost ~1.6 KB per stream. The scanner gets the relay itself
 * rather than an arrow function over it: V8 allocated such per-stream closures in the old generation until the
 * constructor was optimised, and with the arrow, one stream in flight still left ~1 MB of finished streams' objects
 * to copy in each scavenge, ~0.3 MB without it (bench/NOTES.md, "Young-generation survival").
 */
class SseRelay implements AttemptConsumer, EventVisitor {
  readonly #attempt: OpenAttempt;
  readonly #out: ServerResponse;
  readonly #opts: StreamRelayOptions;
  readonly #resolve: (r: StreamResult) => void;
  readonly #reject: (err: unknown) => void;
  readonly #scanner: SseScanner;
  readonly #usageObj = new KeyNeedle(USAGE_KEY, 0x7b);
  readonly #errorKey = new Needle(ERROR_KEY);
  readonly #finishKey = new KeyNeedle(FINISH_KEY, 0x22);
  #started = false;
  #sawDone = false;
  /** A choice finished (a finish_reason that is not null was relayed). */
  #sawFinish = false;
  #errorEvent: GatewayError | null = null;
  #usage: BackendUsage | null = null;
  #contentEvents = 0;
  #chunkEvents = 0;
  #settled = false;
  /** Chunks of this turn not scanned yet, and their bytes; a drain is scheduled while the list is not empty. */
  readonly #pending: Buffer[] = [];
  #pendingBytes = 0;
  #onDrain: (() => void) | null = null;
  /** The head flush and the heartbeat are scheduled (the stream had no event by the end of its first turn). */
  #waiting = false;
  readonly #onClientClose = (): void => {
    if (!this.#out.writableFinished) {
      this.#attempt.abort('client');
      this.#finish('client_abort');
    }
  };

  constructor(attempt: OpenAttempt, out: ServerResponse, opts: StreamRelayOptions, resolve: (r: StreamResult) => void, reject: (err: unknown) => void) {
    this.#attempt = attempt;
    this.#out = out;
    this.#opts = opts;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#scanner = new SseScanner(opts.maxEventBytes);
  }

  start(): void {
    const out = this.#out;
    out.on('close', this.#onClientClose);
    // The backend accepted the stream: the client gets its head now, not when the first token comes (a queued
    // prefill can take tens of seconds, and proxies in front give up on a silent connection). "Now" is the end of
    // this event-loop turn: a first event read together with the backend's head (a warm backend) leaves in the same
    // write as ours, one syscall instead of two; otherwise the head goes alone, still before any timer can fire.
    // On retries too: an earlier attempt that failed within its first turn wrote the head but never sent it
    // (flushing a head already sent writes nothing).
    if (!out.headersSent && !out.destroyed) out.writeHead(200, this.#opts.headers);
    this.#attempt.consume(this);
    // Chunks read with the head are relayed at the end of this turn (drain), and take the head with them: only a
    // stream still without an event then needs its head flushed alone, and the heartbeat.
    if (this.#pending.length === 0) this.#awaitFirstEvent();
  }

  /** No event yet: the head leaves at the end of this turn, and the heartbeat keeps the line alive until one comes. */
  #awaitFirstEvent(): void {
    if (this.#waiting || this.#started || this.#settled) return;
    this.#waiting = true;
    setImmediate(flushHead, this);
    this.#opts.heartbeat?.start();
  }

  flushHead(): void {
    if (!this.#started && !this.#settled && !this.#out.destroyed) this.#out.flushHeaders();
  }

  // --- AttemptConsumer --------------------------------------------------------------------------------------------

  data(chunk: Buffer): void {
    if (this.#settled) return;
    if (this.#pending.length === 0) process.nextTick(drainTurn, this);
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes >= COALESCE_BYTES) this.drain();
  }

  end(): void {
    this.drain();
    if (this.#settled) return;
    const tail = this.#scanner.flush();
    if (tail !== null) this.#lastEvent(tail);
    if (this.#settled) return;
    // An empty 200 stream: nothing reached the client, so this is a retryable failure.
    if (!this.#started) {
      return this.#failBeforeStart(new UpstreamFailure('reset', new GatewayError('upstream_error', `Backend ${this.#attempt.backendLabel} returned an empty stream.`)));
    }
    if (this.#sawDone) this.#finish('done');
    else if (this.#sawFinish) {
      // Ended cleanly after its finish_reason, without [DONE]: TGI before 2.2 and other engines end their streams so.
      // The answer is whole; the client gets the [DONE] it waits for.
      if (!this.#out.destroyed) this.#out.write(DONE_FRAME);
      this.#finish('done');
    } else this.#finish('upstream_dropped', DROPPED());
  }

  error(failure: UpstreamFailure): void {
    if (failure.kind !== 'aborted') this.drain();
    if (this.#settled) return;
    if (failure.kind === 'aborted') return this.#finish('client_abort');
    if (!this.#started) return this.#failBeforeStart(failure);
    // The gateway's drain cut the stream: the client gets the shutdown error as its last event, then a clean end.
    if (failure.kind === 'shutdown') this.#finish('shutdown', failure.clientError, false);
    else if (failure.kind === 'timeout') this.#finish('upstream_timeout', failure.clientError, failure.backendAtFault);
    else this.#finish('upstream_dropped', DROPPED());
  }

  // --- the turn's chunks ------------------------------------------------------------------------------------------

  /** Scans the chunks held for this turn as one buffer and forwards what is kept in one write. */
  drain(): void {
    const pending = this.#pending;
    if (pending.length === 0) return;
    const chunk = pending.length === 1 ? pending[0]! : Buffer.concat(pending, this.#pendingBytes);
    pending.length = 0;
    this.#pendingBytes = 0;
    if (this.#settled) return;
    this.#chunk(chunk);
    if (!this.#started) this.#awaitFirstEvent(); // no complete event yet
  }

  #chunk(chunk: Buffer): void {
    this.#chunkEvents = 0;
    let data: Buffer | Buffer[] | null;
    try {
      data = this.#scanner.push(chunk, this);
    } catch (err) {
      if (!(err instanceof SseEventTooLarge)) throw err;
      const e = TOO_LARGE(err.limit);
      // Sized by the request (prompt_logprobs of a long prompt arrive as one event), as an oversized body is
      // (read-body.ts): not the backend's fault, and no other backend would do better.
      if (!this.#started) return this.#failBeforeStart(new UpstreamFailure('bad_response', e, false, false));
      this.#finish('event_too_large', e, false);
      return this.#attempt.abort('client');
    }
    if (this.#chunkEvents > 0) {
      this.#contentEvents += this.#chunkEvents;
      this.#opts.onEvents?.(this.#chunkEvents);
    }
    this.#forward(data);
    if (this.#errorEvent !== null) this.#onErrorEvent(this.#errorEvent);
  }

  /**
   * The event the backend left without its blank line when its stream ended (`data: [DONE]` alone, CR line ends):
   * read like any other (a [DONE], the usage chunk to drop, an error event) and sent terminated, so that the client's
   * parser dispatches it and the gateway's error frame, if one follows, is an event of its own.
   */
  #lastEvent(tail: Buffer): void {
    const ev = terminatedEvent(tail);
    if (ev === null) return;
    const verdict = this.visitEvent(ev, 0, ev.length);
    if (verdict !== false) this.#forward(verdict === true ? ev : verdict);
    if (this.#errorEvent !== null) this.#onErrorEvent(this.#errorEvent);
  }

  /** The scanner's visitor (EventVisitor): one complete event of the stream. */
  visitEvent(buf: Buffer, start: number, end: number): boolean | Buffer {
    if (this.#errorEvent !== null) return false; // nothing after an engine's error event reaches the client
    if (this.#sawDone) return false; // nor anything after [DONE]: the client's stream has ended there
    const len = end - start;
    if (len <= 16 && has(buf, start, end, DONE)) {
      this.#sawDone = true;
      return true;
    }
    let stripped: Buffer | null = null;
    if (this.#usageObj.in(buf, start, end)) {
      const u = findUsage(buf, start, end);
      if (u) this.#usage = u;
      if (this.#opts.stripUsageChunk) {
        if (has(buf, start, end, EMPTY_CHOICES) || has(buf, start, end, EMPTY_CHOICES_SPACED)) return false;
        // Usage on a chunk that still carries a choice (older llama.cpp): the chunk goes on, without the usage.
        stripped = withoutUsage(buf, start, end);
        if (stripped !== null && stripped.length === 0) return false;
      }
    }
    if (this.#errorKey.in(buf, start, end) || startsWithObjectError(buf, start, end)) {
      this.#errorEvent = normaliseErrorEvent(eventData(buf, start, end), this.#attempt.backendLabel);
      return false;
    }
    const llamaError = errorFieldData(buf, start, end);
    if (llamaError !== null) {
      this.#errorEvent = normaliseErrorEvent(llamaError, this.#attempt.backendLabel);
      return false;
    }
    if (len > 2) this.#chunkEvents++;
    const finished = this.#finishKey.in(buf, start, end);
    if (finished) this.#sawFinish = true;
    if (stripped !== null) return fixFinishReasons(stripped, 0, stripped.length, this.#opts.finishReasons) ?? stripped;
    return finished ? (fixFinishReasons(buf, start, end, this.#opts.finishReasons) ?? true) : true;
  }

  // --- to the client ----------------------------------------------------------------------------------------------

  #forward(data: Buffer | Buffer[] | null): void {
    if (data === null || (Array.isArray(data) && data.length === 0)) return;
    if (!this.#started) {
      this.#started = true;
      this.#opts.heartbeat?.stop();
      this.#opts.onFirstByte();
    }
    const out = this.#out;
    let ok = true;
    if (Array.isArray(data)) {
      // The kept pieces around a dropped or edited event (the injected usage chunk, a mapped finish_reason) go out
      // as one write: each res.write is its own HTTP chunk (size line, bytes, CRLF: four writev entries).
      let bytes = 0;
      for (const d of data) bytes += d.length;
      if (data.length === 1 || bytes > COALESCE_BYTES) for (const d of data) ok = out.write(d) && ok;
      else ok = out.write(Buffer.concat(data, bytes));
    } else ok = out.write(data);
    if (!ok && out.listenerCount('drain') === 0) {
      this.#attempt.pause();
      out.once('drain', (this.#onDrain ??= () => this.#attempt.resume()));
    }
  }

  #onErrorEvent(err: GatewayError): void {
    // An engine error before any token: nothing reached the client, so a server-side failure may still be retried.
    if (!this.#started) return this.#failBeforeStart(err.status >= 500 ? new UpstreamFailure('status_5xx', err) : err);
    this.#finish('upstream_error_event', err);
    this.#attempt.abort('client'); // after finish: the abort's own error callback must find the relay settled
  }

  #cleanup(): void {
    this.#out.removeListener('close', this.#onClientClose);
    if (this.#onDrain !== null) this.#out.removeListener('drain', this.#onDrain);
  }

  #finish(end: StreamEnd, error?: GatewayError, backendAtFault = true): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#cleanup();
    this.#opts.heartbeat?.stop();
    const out = this.#out;
    if (error && !out.destroyed) out.write(sseErrorEvent(error));
    if (!out.destroyed) out.end();
    this.#resolve({ end, usage: this.#usage, contentEvents: this.#contentEvents, backendAtFault });
  }

  #failBeforeStart(failure: UpstreamFailure | GatewayError): void {
    // The head is written: the heartbeat keeps the line alive while the request tries another backend.
    this.#opts.heartbeat?.start();
    this.#settled = true;
    this.#cleanup();
    this.#attempt.abort('client');
    this.#reject(failure);
  }
}
