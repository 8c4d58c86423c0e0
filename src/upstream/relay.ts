import type { ServerResponse } from 'node:http';
import { GatewayError } from '../core/index.js';
import type { OpenAttempt } from './attempt.js';
import { UpstreamFailure } from './errors.js';
import { eventData, SseEventTooLarge, SseScanner } from './sse-scanner.js';
import { fixFinishReasons, type FinishReasonSet } from './finish-reason.js';
import type { Heartbeat } from './heartbeat.js';
import { normaliseErrorEvent } from './normalise-error.js';
import { findUsage, type BackendUsage } from './usage-tap.js';
import { jsonKey, keyAt, type JsonKey } from './json-key.js';

export type StreamEnd = 'done' | 'client_abort' | 'upstream_dropped' | 'upstream_timeout' | 'upstream_error_event' | 'event_too_large';

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
  /** Called with the number of content events in each upstream chunk, for live load tracking. */
  onEvents?(n: number): void;
}

const DONE = Buffer.from('[DONE]');
const USAGE_KEY = jsonKey('usage');
const EMPTY_CHOICES = Buffer.from('"choices":[]');
const EMPTY_CHOICES_SPACED = Buffer.from('"choices": []');
const ERROR_KEY = Buffer.from('{"error"');
const FINISH_KEY = jsonKey('finish_reason');

function has(buf: Buffer, start: number, end: number, needle: Buffer): boolean {
  const at = buf.indexOf(needle, start);
  return at >= 0 && at + needle.length <= end;
}

/** The final SSE event that tells an SDK the stream failed: the same envelope as an HTTP error. */
export function sseErrorEvent(err: GatewayError): string {
  return `data: ${JSON.stringify({ error: { message: err.message, type: err.type, param: err.param, code: err.wireCode } })}\n\n`;
}

/**
 * Whether `needle` occurs inside buf[start, end). The position of the next occurrence is remembered, so the events of
 * one chunk, visited in order, cost one search of the chunk per needle (not one search of the rest of the chunk per
 * event, which is quadratic when a backend's events arrive coalesced in one read).
 */
export class Needle {
  #buf: Buffer | null = null;
  #at = -1;
  /**
   * At most 6 bytes are searched for natively, the rest compared here: from 7 bytes on the native search counts
   * misses and switches to Boyer-Moore-Horspool, which builds its tables on every call (`{"error"` across the fast
   * simulator's 3.6 KB stream: 1.4 µs; `{"erro`: 0.4 µs).
   */
  readonly #head: Buffer;
  constructor(readonly bytes: Buffer) {
    this.#head = bytes.subarray(0, 6);
  }
  in(buf: Buffer, start: number, end: number): boolean {
    if (buf !== this.#buf || (this.#at !== -1 && this.#at < start)) {
      this.#buf = buf;
      this.#at = this.#find(buf, start);
    }
    return this.#at !== -1 && this.#at + this.bytes.length <= end;
  }
  #find(buf: Buffer, from: number): number {
    const n = this.bytes.length;
    const h = this.#head.length;
    for (let at = buf.indexOf(this.#head, from); at !== -1; at = buf.indexOf(this.#head, at + 1)) {
      let k = h;
      while (k < n && buf[at + k] === this.bytes[k]) k++;
      if (k === n) return at;
    }
    return -1;
  }
}

/**
 * Whether a JSON key whose value starts with `value` (`{` for an object, `"` for a string) occurs inside buf[start,
 * end), spaces around the colon allowed. One search per key instead of one per spacing variant (each search of a
 * multi-byte needle costs a native call of ~200 ns, paid per event when an engine writes one event per chunk); the
 * next match is remembered as in Needle. The key is searched for as keyAt does (without its opening quote).
 */
export class KeyNeedle {
  #buf: Buffer | null = null;
  /** Where the key's opening quote is, or -1. */
  #at = -1;
  #valueEnd = -1;
  constructor(
    readonly key: JsonKey,
    readonly value: number,
  ) {}
  in(buf: Buffer, start: number, end: number): boolean {
    if (buf !== this.#buf || (this.#at !== -1 && this.#at < start)) {
      this.#buf = buf;
      this.#find(buf, start);
    }
    return this.#at !== -1 && this.#valueEnd <= end;
  }
  #find(buf: Buffer, from: number): void {
    let at = keyAt(buf, this.key, from);
    while (at !== -1) {
      let i = at + this.key.bytes.length;
      while (buf[i] === 0x20) i++;
      if (buf[i] === 0x3a) {
        i++;
        while (buf[i] === 0x20) i++;
        if (buf[i] === this.value) {
          this.#at = at;
          this.#valueEnd = i + 1;
          return;
        }
      }
      at = keyAt(buf, this.key, at + 1);
    }
    this.#at = -1;
  }
}

const DROPPED = () => new GatewayError('upstream_error', 'The backend closed the stream before it finished; the response is incomplete.');
const TOO_LARGE = (limit: number) =>
  new GatewayError('upstream_error', `The backend sent an SSE event larger than server.max_event_size (${limit} bytes); the response is incomplete.`, {
    wireCode: 'upstream_event_too_large',
  });

/**
 * Relays an SSE response byte for byte with end-to-end backpressure: when the client's socket buffer is full the
 * backend socket is paused, so memory stays bounded by one chunk (and one event, capped). The response head goes out
 * as soon as the backend accepts; a failure before the first data byte rejects with an UpstreamFailure (the caller
 * may still retry, invisibly); after it, the stream ends with one SSE error event in OpenAI's envelope and never
 * looks like success. Engine error events are normalised to that envelope too, and end the stream.
 */
export function relaySse(attempt: OpenAttempt, out: ServerResponse, opts: StreamRelayOptions): Promise<StreamResult> {
  return new Promise<StreamResult>((resolve, reject) => {
    const scanner = new SseScanner(opts.maxEventBytes);
    let started = false;
    let sawDone = false;
    let errorEvent: GatewayError | null = null;
    let usage: BackendUsage | null = null;
    let contentEvents = 0;
    let chunkEvents = 0;
    let settled = false;

    const usageObj = new KeyNeedle(USAGE_KEY, 0x7b);
    const errorKey = new Needle(ERROR_KEY);
    const finishKey = new KeyNeedle(FINISH_KEY, 0x22);
    const visit = (buf: Buffer, start: number, end: number): boolean | Buffer => {
      if (errorEvent !== null) return false; // nothing after an engine's error event reaches the client
      const len = end - start;
      if (len <= 16 && has(buf, start, end, DONE)) {
        sawDone = true;
        return true;
      }
      if (usageObj.in(buf, start, end)) {
        const u = findUsage(buf, start, end);
        if (u) usage = u;
        if (opts.stripUsageChunk && (has(buf, start, end, EMPTY_CHOICES) || has(buf, start, end, EMPTY_CHOICES_SPACED))) return false;
      }
      if (errorKey.in(buf, start, end)) {
        errorEvent = normaliseErrorEvent(eventData(buf, start, end), attempt.backendId);
        return false;
      }
      if (len > 2) chunkEvents++;
      if (finishKey.in(buf, start, end)) return fixFinishReasons(buf, start, end, opts.finishReasons) ?? true;
      return true;
    };

    const onDrain = () => attempt.resume();
    const onClientClose = () => {
      if (!out.writableFinished) {
        attempt.abort('client');
        finish('client_abort');
      }
    };
    out.on('close', onClientClose);

    const cleanup = () => {
      out.removeListener('close', onClientClose);
      out.removeListener('drain', onDrain);
    };

    const finish = (end: StreamEnd, error?: GatewayError, backendAtFault = true) => {
      if (settled) return;
      settled = true;
      cleanup();
      opts.heartbeat?.stop();
      if (error && !out.destroyed) out.write(sseErrorEvent(error));
      if (!out.destroyed) out.end();
      resolve({ end, usage, contentEvents, backendAtFault });
    };

    const failBeforeStart = (failure: UpstreamFailure | GatewayError) => {
      settled = true;
      cleanup();
      attempt.abort('client');
      reject(failure);
    };

    // The backend accepted the stream: the client gets its head now, not when the first token comes (a queued
    // prefill can take tens of seconds, and proxies in front give up on a silent connection). "Now" is the end of
    // this event-loop turn: a first event read together with the backend's head (a warm backend) leaves in the same
    // write as ours, one syscall instead of two; otherwise the head goes alone, still before any timer can fire.
    // Scheduled on retries too: an earlier attempt that failed within its first turn wrote the head but never sent it
    // (flushing a head already sent writes nothing).
    if (!out.headersSent && !out.destroyed) out.writeHead(200, opts.headers);
    setImmediate(() => {
      if (!started && !settled && !out.destroyed) out.flushHeaders();
    });
    opts.heartbeat?.start();

    const write = (data: Buffer | Buffer[]) => {
      let ok = true;
      if (Array.isArray(data)) for (const d of data) ok = out.write(d) && ok;
      else ok = out.write(data);
      if (!ok && out.listenerCount('drain') === 0) {
        attempt.pause();
        out.once('drain', onDrain);
      }
    };

    const forward = (data: Buffer | Buffer[] | null) => {
      if (data === null || (Array.isArray(data) && data.length === 0)) return;
      if (!started) {
        started = true;
        opts.heartbeat?.stop();
        opts.onFirstByte();
      }
      write(data);
    };

    const onErrorEvent = (err: GatewayError) => {
      // An engine error before any token: nothing reached the client, so a server-side failure may still be retried.
      if (!started) return failBeforeStart(err.status >= 500 ? new UpstreamFailure('status_5xx', err) : err);
      finish('upstream_error_event', err);
      attempt.abort('client'); // after finish: the abort's own error callback must find the relay settled
    };

    attempt.consume({
      data(chunk) {
        if (settled) return;
        chunkEvents = 0;
        let data: Buffer | Buffer[] | null;
        try {
          data = scanner.push(chunk, visit);
        } catch (err) {
          if (!(err instanceof SseEventTooLarge)) throw err;
          const e = TOO_LARGE(err.limit);
          if (!started) return failBeforeStart(new UpstreamFailure('bad_response', e));
          finish('event_too_large', e);
          return attempt.abort('client');
        }
        if (chunkEvents > 0) {
          contentEvents += chunkEvents;
          opts.onEvents?.(chunkEvents);
        }
        forward(data);
        if (errorEvent !== null) onErrorEvent(errorEvent);
      },
      end() {
        if (settled) return;
        forward(scanner.flush());
        // An empty 200 stream: nothing reached the client, so this is a retryable failure.
        if (!started) return failBeforeStart(new UpstreamFailure('reset', new GatewayError('upstream_error', `Backend ${attempt.backendId} returned an empty stream.`)));
        if (sawDone) finish('done');
        else finish('upstream_dropped', DROPPED());
      },
      error(failure) {
        if (settled) return;
        if (failure.kind === 'aborted') return finish('client_abort');
        if (!started) return failBeforeStart(failure);
        if (failure.kind === 'timeout') finish('upstream_timeout', failure.clientError, failure.backendAtFault);
        else finish('upstream_dropped', DROPPED());
      },
    });
  });
}
