import type { ServerResponse } from 'node:http';
import { GatewayError } from '../core/index.js';
import { eventData, SseScanner, UpstreamFailure, type BackendUsage, type OpenAttempt, type StreamEnd } from '../upstream/index.js';

/**
 * Per-event work of a stream whose wire is not OpenAI's chat chunks: a translation (chat chunks → Responses events)
 * or a pass-through that must read a few events (the Responses and Messages streams end with a typed event, not
 * `[DONE]`, and carry usage in their own fields).
 */
export interface EventTransform {
  /**
   * One complete upstream event: its data field (decoded) and its raw bytes. Returns what the client gets for it:
   * the raw bytes (pass-through), new text (translation) or null (nothing).
   */
  event(data: string, raw: Buffer): string | Buffer | null;
  /** Set once the backend sent its final event (the stream is complete). */
  readonly done: boolean;
  /** Set when the backend sent an error event (it is relayed; the stream is not a success). */
  readonly failed: boolean;
  /** Events the client still needs after the backend's final event (a translation's closing events), or null. */
  finish(): string | null;
  usage(): BackendUsage | null;
  /** Content events so far: the completion-token fallback for an aborted stream. */
  readonly contentEvents: number;
  /** The last frame of a stream that failed after it started, in the family's error shape. */
  errorFrame(err: GatewayError): string;
}

export interface EventRelayResult {
  end: StreamEnd;
  usage: BackendUsage | null;
  contentEvents: number;
  /** False when the stream ended on a deadline the client caused (see upstream's StreamResult). */
  backendAtFault: boolean;
}

const DROPPED = () => new GatewayError('upstream_error', 'The backend closed the stream before it finished; the response is incomplete.');
const STALLED = () => new GatewayError('upstream_timeout', 'The backend stopped sending events (idle timeout); the response is incomplete.');

/**
 * Relays an SSE stream event by event through a transform, with the same contract as the byte-exact relay: headers
 * go out with the first event the client gets (until then a failure rejects and the caller may retry), a slow client
 * pauses the backend (memory stays bounded by one chunk), and a stream that breaks after it started ends with an
 * error frame, never looking like success.
 */
export function relayEvents(
  attempt: OpenAttempt,
  out: ServerResponse,
  opts: { headers: Record<string, string | number>; transform: EventTransform; onFirstByte(): void; onEvents?(n: number): void },
): Promise<EventRelayResult> {
  const t = opts.transform;
  return new Promise<EventRelayResult>((resolve, reject) => {
    const scanner = new SseScanner();
    let started = false;
    let settled = false;
    let pending: Array<string | Buffer> = [];
    const visit = (buf: Buffer, start: number, end: number): boolean => {
      if (end - start > 2) {
        const piece = t.event(eventData(buf, start, end), buf.subarray(start, end));
        if (piece !== null && piece.length > 0) pending.push(piece);
      }
      return false;
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
    const result = (end: StreamEnd): EventRelayResult => ({ end, usage: t.usage(), contentEvents: t.contentEvents, backendAtFault: true });
    const finish = (end: StreamEnd, error?: GatewayError) => {
      if (settled) return;
      settled = true;
      cleanup();
      if (error && !out.destroyed) {
        if (!started) begin();
        out.write(t.errorFrame(error));
      }
      if (!out.destroyed) out.end();
      resolve(result(end));
    };
    const begin = () => {
      started = true;
      out.writeHead(200, opts.headers);
      opts.onFirstByte();
    };
    const flush = () => {
      if (pending.length === 0) return;
      if (!started) begin();
      let ok = true;
      for (const piece of pending) ok = out.write(piece) && ok;
      pending = [];
      if (!ok && out.listenerCount('drain') === 0) {
        attempt.pause();
        out.once('drain', onDrain);
      }
    };
    let seen = 0;
    attempt.consume({
      data(chunk) {
        if (settled) return;
        scanner.push(chunk, visit);
        const n = t.contentEvents - seen;
        seen = t.contentEvents;
        if (n > 0) opts.onEvents?.(n);
        flush();
      },
      end() {
        if (settled) return;
        const rest = scanner.flush();
        if (rest) visit(rest, 0, rest.length);
        if (t.done) {
          const tail = t.finish();
          if (tail) pending.push(tail);
        }
        if (!started && pending.length === 0) {
          settled = true;
          cleanup();
          reject(new UpstreamFailure('reset', new GatewayError('upstream_error', `Backend ${attempt.backendId} returned an empty stream.`)));
          return;
        }
        flush();
        if (t.done) finish(t.failed ? 'upstream_error_event' : 'done');
        else if (t.failed) finish('upstream_error_event');
        else finish('upstream_dropped', DROPPED());
      },
      error(failure) {
        if (settled) return;
        if (failure.kind === 'aborted') return finish('client_abort');
        if (!started) {
          settled = true;
          cleanup();
          reject(failure);
          return;
        }
        if (failure.kind === 'timeout') finish('upstream_timeout', STALLED());
        else finish('upstream_dropped', DROPPED());
      },
    });
  });
}
