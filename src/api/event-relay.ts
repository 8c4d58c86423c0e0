import type { ServerResponse } from 'node:http';
import { GatewayError } from '../core/index.js';
import { errorFieldData, eventData, SseEventTooLarge, SseScanner, terminatedEvent, UpstreamFailure, type EventVisitor, type BackendUsage, type Heartbeat, type OpenAttempt, type StreamEnd } from '../upstream/index.js';

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
  /**
   * The backend's body ended without its final event: a transform that reads a chat stream whose choice finished
   * takes the end as that event (TGI before 2.2 sent no `[DONE]`) and sets `done`. Optional.
   */
  bodyEnded?(): void;
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

export interface EventRelayOptions {
  /** Client headers, sent once the backend accepted the stream (as the byte relay does). */
  headers: Record<string, string | number>;
  transform: EventTransform;
  /** SSE comments until the first event reaches the client; stopped there. */
  heartbeat: Heartbeat | null;
  /** server.max_event_size: a larger upstream event ends the stream with an error. */
  maxEventBytes: number;
  onFirstByte(): void;
  onEvents?(n: number): void;
}

const TOO_LARGE = (limit: number) =>
  new GatewayError('upstream_error', `The backend sent an SSE event larger than server.max_event_size (${limit} bytes); the response is incomplete.`, {
    wireCode: 'upstream_event_too_large',
  });

/**
 * Relays an SSE stream event by event through a transform, with the byte relay's contract: the head goes out when the
 * backend accepts, heartbeats keep the connection visibly alive until the first event, a failure before that event
 * rejects (the caller may retry invisibly), a slow client pauses the backend (memory stays bounded by one chunk),
 * and a stream that breaks after it started ends with the family's error frame, never looking like success.
 */
export function relayEvents(attempt: OpenAttempt, out: ServerResponse, opts: EventRelayOptions): Promise<EventRelayResult> {
  const t = opts.transform;
  return new Promise<EventRelayResult>((resolve, reject) => {
    const scanner = new SseScanner(opts.maxEventBytes);
    let started = false;
    let settled = false;
    let pending: Array<string | Buffer> = [];
    const visitor: EventVisitor = {
      visitEvent(buf, start, end) {
        if (end - start > 2) {
          let data = eventData(buf, start, end);
          // llama.cpp fails a stream with an `error:` line instead of a data line: read as the engines' error shape.
          if (data === '') data = errorFieldData(buf, start, end) ?? data;
          const piece = t.event(data, buf.subarray(start, end));
          if (piece !== null && piece.length > 0) pending.push(piece);
        }
        return false;
      },
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
    const result = (end: StreamEnd, backendAtFault: boolean): EventRelayResult => ({ end, usage: t.usage(), contentEvents: t.contentEvents, backendAtFault });
    const finish = (end: StreamEnd, error?: GatewayError, backendAtFault = true) => {
      if (settled) return;
      settled = true;
      cleanup();
      opts.heartbeat?.stop();
      if (error && !out.destroyed) out.write(t.errorFrame(error));
      if (!out.destroyed) out.end();
      resolve(result(end, backendAtFault));
    };
    const failBeforeStart = (failure: UpstreamFailure) => {
      settled = true;
      cleanup();
      attempt.abort('client');
      reject(failure);
    };
    if (!out.headersSent && !out.destroyed) {
      out.writeHead(200, opts.headers);
      out.flushHeaders();
    }
    opts.heartbeat?.start();
    const flush = () => {
      if (pending.length === 0) return;
      if (!started) {
        started = true;
        opts.heartbeat?.stop();
        opts.onFirstByte();
      }
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
        try {
          scanner.push(chunk, visitor);
        } catch (err) {
          if (!(err instanceof SseEventTooLarge)) throw err;
          const e = TOO_LARGE(err.limit);
          // Sized by the request, not the backend's fault (see upstream/relay.ts).
          if (!started) return failBeforeStart(new UpstreamFailure('bad_response', e, false, false));
          finish('event_too_large', e, false);
          return attempt.abort('client');
        }
        const n = t.contentEvents - seen;
        seen = t.contentEvents;
        if (n > 0) opts.onEvents?.(n);
        flush();
      },
      end() {
        if (settled) return;
        // An event left without its blank line is read, and relayed terminated: a client's parser would never
        // dispatch it (a pass-through's response.completed or message_stop).
        const rest = scanner.flush();
        const last = rest && terminatedEvent(rest);
        if (last) visitor.visitEvent(last, 0, last.length);
        if (!t.done && !t.failed) t.bodyEnded?.();
        if (t.done || t.failed) {
          const tail = t.finish();
          if (tail) pending.push(tail);
        }
        if (!started && pending.length === 0) {
          return failBeforeStart(new UpstreamFailure('reset', new GatewayError('upstream_error', `Backend ${attempt.backendLabel} returned an empty stream.`)));
        }
        flush();
        if (t.done) finish(t.failed ? 'upstream_error_event' : 'done');
        else if (t.failed) finish('upstream_error_event');
        else finish('upstream_dropped', DROPPED());
      },
      error(failure) {
        if (settled) return;
        if (failure.kind === 'aborted') return finish('client_abort');
        if (!started) return failBeforeStart(failure);
        // The gateway's drain cut the stream: the family's error frame, then a clean end (see upstream/relay.ts).
        if (failure.kind === 'shutdown') finish('shutdown', failure.clientError, false);
        else if (failure.kind === 'timeout') finish('upstream_timeout', failure.clientError, failure.backendAtFault);
        else finish('upstream_dropped', DROPPED());
      },
    });
  });
}
