import type { ServerResponse } from 'node:http';
import { GatewayError } from '../core/index.js';
import type { OpenAttempt } from './attempt.js';
import { UpstreamFailure } from './errors.js';
import { SseScanner } from './sse-scanner.js';
import { findUsage, type BackendUsage } from './usage-tap.js';

export type StreamEnd = 'done' | 'client_abort' | 'upstream_dropped' | 'upstream_timeout' | 'upstream_error_event';

export interface StreamResult {
  end: StreamEnd;
  usage: BackendUsage | null;
  /** Content events relayed (roughly one per decode step), the fallback for completion tokens on aborts. */
  contentEvents: number;
}

export interface StreamRelayOptions {
  /** Headers for the client, written with the first upstream body chunk (until then a retry is still possible). */
  headers: Record<string, string | number>;
  /** Drop the usage-only chunk: the gateway asked for it, the client did not. */
  stripUsageChunk: boolean;
  onFirstByte(): void;
  /** Called with the number of content events in each upstream chunk, for live load tracking. */
  onEvents?(n: number): void;
}

const DONE = Buffer.from('[DONE]');
const USAGE_OBJ = Buffer.from('"usage":{');
const USAGE_OBJ_SPACED = Buffer.from('"usage": {');
const EMPTY_CHOICES = Buffer.from('"choices":[]');
const EMPTY_CHOICES_SPACED = Buffer.from('"choices": []');
const ERROR_KEY = Buffer.from('{"error"');

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
class Needle {
  #buf: Buffer | null = null;
  #at = -1;
  constructor(readonly bytes: Buffer) {}
  in(buf: Buffer, start: number, end: number): boolean {
    if (buf !== this.#buf || (this.#at !== -1 && this.#at < start)) {
      this.#buf = buf;
      this.#at = buf.indexOf(this.bytes, start);
    }
    return this.#at !== -1 && this.#at + this.bytes.length <= end;
  }
}

const DROPPED = () => new GatewayError('upstream_error', 'The backend closed the stream before it finished; the response is incomplete.');
const STALLED = () => new GatewayError('upstream_timeout', 'The backend stopped sending tokens (idle timeout); the response is incomplete.');

/**
 * Relays an SSE response byte for byte with end-to-end backpressure: when the client's socket buffer is full the
 * backend socket is paused, so memory stays bounded by one chunk. A failure before the first chunk rejects with an
 * UpstreamFailure (the caller may still retry); after it, the stream ends with an SSE error event and never looks
 * like success.
 */
export function relaySse(attempt: OpenAttempt, out: ServerResponse, opts: StreamRelayOptions): Promise<StreamResult> {
  return new Promise<StreamResult>((resolve, reject) => {
    const scanner = new SseScanner();
    let started = false;
    let sawDone = false;
    let sawErrorEvent = false;
    let usage: BackendUsage | null = null;
    let contentEvents = 0;
    let chunkEvents = 0;
    let settled = false;

    const usageObj = new Needle(USAGE_OBJ);
    const usageObjSpaced = new Needle(USAGE_OBJ_SPACED);
    const errorKey = new Needle(ERROR_KEY);
    const visit = (buf: Buffer, start: number, end: number): boolean => {
      const len = end - start;
      if (len <= 16 && has(buf, start, end, DONE)) {
        sawDone = true;
        return true;
      }
      if (usageObj.in(buf, start, end) || usageObjSpaced.in(buf, start, end)) {
        const u = findUsage(buf, start, end);
        if (u) usage = u;
        if (opts.stripUsageChunk && (has(buf, start, end, EMPTY_CHOICES) || has(buf, start, end, EMPTY_CHOICES_SPACED))) return false;
      }
      if (errorKey.in(buf, start, end)) sawErrorEvent = true;
      else if (len > 2) chunkEvents++;
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

    const finish = (end: StreamEnd, error?: GatewayError) => {
      if (settled) return;
      settled = true;
      cleanup();
      if (error && !out.destroyed) out.write(sseErrorEvent(error));
      if (!out.destroyed) out.end();
      resolve({ end, usage, contentEvents });
    };

    const failBeforeStart = (failure: UpstreamFailure) => {
      settled = true;
      cleanup();
      reject(failure);
    };

    const begin = () => {
      started = true;
      out.writeHead(200, opts.headers);
      opts.onFirstByte();
    };

    const write = (data: Buffer | Buffer[]) => {
      let ok = true;
      if (Array.isArray(data)) for (const d of data) ok = out.write(d) && ok;
      else ok = out.write(data);
      if (!ok && out.listenerCount('drain') === 0) {
        attempt.pause();
        out.once('drain', onDrain);
      }
    };

    attempt.consume({
      data(chunk) {
        if (settled) return;
        chunkEvents = 0;
        const data = scanner.push(chunk, visit);
        if (chunkEvents > 0) {
          contentEvents += chunkEvents;
          opts.onEvents?.(chunkEvents);
        }
        if (data === null) return;
        if (!started) begin();
        write(data);
      },
      end() {
        if (settled) return;
        const rest = scanner.flush();
        if (rest) {
          if (!started) begin();
          write(rest);
        }
        // An empty 200 stream: nothing reached the client, so this is a retryable failure.
        if (!started) return failBeforeStart(new UpstreamFailure('reset', new GatewayError('upstream_error', `Backend ${attempt.backendId} returned an empty stream.`)));
        if (sawDone) finish('done');
        else if (sawErrorEvent) finish('upstream_error_event');
        else finish('upstream_dropped', DROPPED());
      },
      error(failure) {
        if (settled) return;
        if (failure.kind === 'aborted') return finish('client_abort');
        if (!started) return failBeforeStart(failure);
        if (failure.kind === 'timeout') finish('upstream_timeout', STALLED());
        else finish('upstream_dropped', DROPPED());
      },
    });
  });
}

/** Reads a whole non-streamed body; failures reject with an UpstreamFailure (nothing has reached the client). */
export function readBody(attempt: OpenAttempt): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    attempt.consume({
      data(chunk) {
        parts.push(chunk);
        size += chunk.length;
      },
      end: () => resolve(parts.length === 1 ? parts[0]! : Buffer.concat(parts, size)),
      error: reject,
    });
  });
}
