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

export function writeJson(out: ServerResponse, status: number, body: Buffer | string, headers: Record<string, string | number>, contentType = 'application/json'): void {
  if (out.destroyed) return;
  headers['content-type'] = contentType;
  headers['content-length'] = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  out.writeHead(status, headers);
  out.end(body);
}

