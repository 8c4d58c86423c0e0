import type { ServerResponse } from 'node:http';
import { errorEnvelope } from '../core/index.js';

/** Writes an error as OpenAI's envelope, or as a final SSE event when a stream has already started. */
export function writeError(out: ServerResponse, err: unknown, extraHeaders?: Record<string, string>): number {
  const { status, body, headers } = errorEnvelope(err);
  if (out.destroyed || out.writableEnded) return status;
  if (out.headersSent) {
    out.end(`data: ${body}\n\n`);
    return status;
  }
  out.writeHead(status, {
    ...extraHeaders,
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  out.end(body);
  return status;
}

/** Bodies up to this size go out in one write with the response head (see writeJson). */
const ONE_WRITE_MAX = 64 * 1024;

export function writeJson(out: ServerResponse, status: number, body: Buffer | string, headers: Record<string, string | number>, contentType = 'application/json'): void {
  if (out.destroyed) return;
  headers['content-type'] = contentType;
  headers['content-length'] = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  out.writeHead(status, headers);
  if (typeof body === 'string' || body.length > ONE_WRITE_MAX) out.end(body);
  // A backend's bytes as a latin1 string, one character per byte, so they go out unchanged: Node joins a string body
  // to the head and sends both in one write, where a Buffer follows the head as a second chunk through the socket's
  // corked writev (about 1.9 KB of bookkeeping and two callbacks per response). Past ONE_WRITE_MAX the copy would
  // cost more than that saves.
  else out.end(body.toString('latin1'), 'latin1');
}

