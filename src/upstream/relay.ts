import type { ServerResponse } from 'node:http';
import { GatewayError } from '../core/index.js';
import type { OpenAttempt } from './attempt.js';
import { classifyNetworkError, UpstreamFailure } from './errors.js';
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

/** The final SSE event that tells an SDK the stream failed: the same envelope as an HTTP error. */
export function sseErrorEvent(err: GatewayError): string {
  return `data: ${JSON.stringify({ error: { message: err.message, type: err.type, param: err.param, code: err.wireCode } })}\n\n`;
}

function has(buf: Buffer, start: number, end: number, needle: Buffer): boolean {
  const at = buf.indexOf(needle, start);
  return at >= 0 && at + needle.length <= end;
}

/**
 * Relays an SSE response byte for byte with end-to-end backpressure: when the client's socket buffer is full the
 * upstream body is paused, so memory stays bounded by one chunk. A failure before the first chunk rejects with an
 * UpstreamFailure (the caller may still retry); after it, the stream ends with an SSE error event and never looks
 * like success.
 */
export function relaySse(attempt: OpenAttempt, out: ServerResponse, opts: StreamRelayOptions): Promise<StreamResult> {
  return new Promise<StreamResult>((resolve, reject) => {
    const body = attempt.body;
    const scanner = new SseScanner();
    let started = false;
    let sawDone = false;
    let sawErrorEvent = false;
    let usage: BackendUsage | null = null;
    let contentEvents = 0;
    let chunkEvents = 0;
    let settled = false;

    const visit = (buf: Buffer, start: number, end: number): boolean => {
      const len = end - start;
      if (len <= 16 && has(buf, start, end, DONE)) {
        sawDone = true;
        return true;
      }
      if (has(buf, start, end, USAGE_OBJ) || has(buf, start, end, USAGE_OBJ_SPACED)) {
        const u = findUsage(buf, start, end);
        if (u) usage = u;
        if (opts.stripUsageChunk && (has(buf, start, end, EMPTY_CHOICES) || has(buf, start, end, EMPTY_CHOICES_SPACED))) return false;
      }
      if (has(buf, start, end, ERROR_KEY)) sawErrorEvent = true;
      else if (len > 2) chunkEvents++;
      return true;
    };

    const finish = (end: StreamEnd, error?: GatewayError) => {
      if (settled) return;
      settled = true;
      attempt.done();
      out.removeListener('close', onClientClose);
      if (error && !out.destroyed) out.write(sseErrorEvent(error));
      if (!out.destroyed) out.end();
      resolve({ end, usage, contentEvents });
    };

    const fail = (err: unknown) => {
      if (settled) return;
      const why = attempt.abortReason();
      if (why === 'client') return finish('client_abort');
      const failure = classifyNetworkError(err, attempt.backendId, { client: false, timeout: why === 'timeout' });
      if (!started) {
        settled = true;
        attempt.done();
        out.removeListener('close', onClientClose);
        reject(failure);
        return;
      }
      if (failure.kind === 'timeout') {
        finish('upstream_timeout', new GatewayError('upstream_timeout', 'The backend stopped sending tokens (idle timeout); the response is incomplete.'));
      } else {
        finish('upstream_dropped', new GatewayError('upstream_error', 'The backend closed the stream before it finished; the response is incomplete.'));
      }
    };

    const onClientClose = () => {
      if (!out.writableFinished) {
        attempt.abort('client');
        body.destroy();
        finish('client_abort');
      }
    };
    out.on('close', onClientClose);

    const write = (data: Buffer | Buffer[]) => {
      let ok = true;
      if (Array.isArray(data)) for (const d of data) ok = out.write(d) && ok;
      else ok = out.write(data);
      if (!ok) {
        body.pause();
        out.once('drain', () => body.resume());
      }
    };

    body.on('data', (chunk: Buffer) => {
      if (settled) return;
      attempt.touch();
      chunkEvents = 0;
      const data = scanner.push(chunk, visit);
      if (chunkEvents > 0) {
        contentEvents += chunkEvents;
        opts.onEvents?.(chunkEvents);
      }
      if (data === null) return;
      if (!started) {
        started = true;
        out.writeHead(200, opts.headers);
        opts.onFirstByte();
      }
      write(data);
    });
    body.on('end', () => {
      if (settled) return;
      const rest = scanner.flush();
      if (rest) {
        if (!started) {
          started = true;
          out.writeHead(200, opts.headers);
          opts.onFirstByte();
        }
        write(rest);
      }
      if (!started) {
        // An empty 200 stream: nothing reached the client, so this is a retryable failure.
        settled = true;
        attempt.done();
        out.removeListener('close', onClientClose);
        reject(new UpstreamFailure('reset', new GatewayError('upstream_error', 'The backend returned an empty stream.')));
        return;
      }
      if (sawDone) finish('done');
      else if (sawErrorEvent) finish('upstream_error_event');
      else finish('upstream_dropped', new GatewayError('upstream_error', 'The backend closed the stream before it finished; the response is incomplete.'));
    });
    body.on('error', fail);
  });
}

/** Reads a whole non-streamed body; failures reject with an UpstreamFailure (nothing has reached the client). */
export function readBody(attempt: OpenAttempt, backendId: string): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    attempt.body.on('data', (chunk: Buffer) => {
      attempt.touch();
      parts.push(chunk);
      size += chunk.length;
    });
    attempt.body.on('end', () => {
      attempt.done();
      resolve(parts.length === 1 ? parts[0]! : Buffer.concat(parts, size));
    });
    attempt.body.on('error', (err) => {
      attempt.done();
      const why = attempt.abortReason();
      reject(classifyNetworkError(err, backendId, { client: why === 'client', timeout: why === 'timeout' }));
    });
  });
}
