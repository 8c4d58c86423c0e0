import type { Socket } from 'node:net';
import { anthropicErrorBody, isAnthropicRoute } from '../api/index.js';
import { createRequestCtx, type Clock } from '../core/index.js';
import { rowFromCtx, type UsageWriter } from '../usage/index.js';

/**
 * A refusal the gateway makes outside the pipeline (the HTTP parser's, or one Node or node-server would make bare):
 * its status line, and OpenAI's envelope with the client's-fault type.
 */
export interface Refusal {
  readonly status: number;
  readonly reason: string;
  readonly code: string;
  readonly message: string;
}

export function refusalBody(r: Refusal): string {
  return JSON.stringify({ error: { message: r.message, type: 'invalid_request_error', param: null, code: r.code } });
}

/** A refusal answered through a request's response: in Anthropic's shape on the Messages routes, as the SDK there expects. */
export function refusalAnswer(r: Refusal, url: string, id: string): { body: string; headers: Record<string, string> } {
  if (isAnthropicRoute(url)) return { body: anthropicErrorBody(r, id), headers: { 'request-id': id } };
  return { body: refusalBody(r), headers: {} };
}

/** Records a refusal as a usage row, as the pipeline records every request it answers. */
export function createRefusalRecorder(clock: Clock, usage: () => UsageWriter | null): (r: Refusal, id: string) => void {
  return (r, id) => {
    const writer = usage();
    if (!writer) return;
    const now = clock.now();
    const ctx = createRequestCtx(id, now, clock.wallMs());
    ctx.status = r.status;
    ctx.errorCode = r.code;
    ctx.outcome = 'client_error';
    ctx.endMs = now;
    writer.record(rowFromCtx(ctx, now));
  };
}

const LINGER_MS = 2000;

/** Writes the refusal on a socket no response object serves, and closes the connection (`extraHeaders`: CRLF-ended lines). */
export function refuseOnSocket(socket: Socket, r: Refusal, id: string, extraHeaders = ''): void {
  const body = refusalBody(r);
  socket.end(
    `HTTP/1.1 ${r.status} ${r.reason}\r\n${extraHeaders}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-Id: ${id}\r\nConnection: close\r\n\r\n${body}`,
  );
  // Closing at once, with the client's bytes still unread, would reset the connection and could discard the answer at
  // the client; a peer that never closes its side is cut off shortly after.
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}
