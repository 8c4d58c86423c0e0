import type { IncomingMessage } from 'node:http';
import { GatewayError, parserRefusalOf } from '../core/index.js';
import { UpstreamFailure } from '../upstream/index.js';
import { jsonBoundsRefusal } from './json-bounds.js';

/**
 * Reads the request body straight from the socket stream (not through a web Request), enforcing the size limit.
 * Over the limit, the 413 is answered at once, declared or not (a chunked upload is refused when it passes the limit,
 * not when it ends), and the rest of the upload is read and dropped so the answer is not lost to a connection reset;
 * an upload far over the limit is cut off.
 */
export function readRequestBody(incoming: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(incoming.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    discardUpload(incoming, limit, 0);
    return Promise.reject(tooLarge(limit));
  }
  // The request may already be gone (a body timeout or a client abort while authentication awaited a JWKS): its
  // events have fired, so waiting for them would never settle.
  if (incoming.destroyed && !incoming.complete) return Promise.reject(closedEarly(incoming));
  const ready = bufferedBody(incoming, limit);
  if (ready !== null) return Promise.resolve(ready);
  return new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    let settled = false;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        parts.push(chunk);
        return;
      }
      settled = true;
      parts.length = 0;
      incoming.removeListener('data', onData);
      discardUpload(incoming, limit, size);
      reject(tooLarge(limit));
    };
    incoming.on('data', onData);
    incoming.on('end', () => {
      if (!settled) resolve(parts.length === 1 ? parts[0]! : Buffer.concat(parts, size));
    });
    incoming.on('error', () => {
      // Node reports a connection lost mid-body as an error ("aborted") before the close.
      if (!settled) reject(incoming.complete ? new GatewayError('invalid_request', 'The request body could not be read.') : closedEarly(incoming));
    });
    incoming.on('close', () => {
      if (!settled && !incoming.complete) reject(closedEarly(incoming));
    });
  });
}

export function tooLarge(limit: number): GatewayError {
  return new GatewayError('payload_too_large', `The request body exceeds the gateway's limit of ${limit} bytes.`, { wireCode: 'request_too_large' });
}

/**
 * What is left of a refused upload is read and dropped, so the client, which may read only once it has sent
 * everything, still gets the answer; past four times the limit the connection is cut (bounded work for an upload
 * that would never end).
 */
export function discardUpload(incoming: IncomingMessage, limit: number, already: number): void {
  let seen = already;
  incoming.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > limit * 4) incoming.destroy();
  });
  incoming.resume();
}

/**
 * A compressed body is refused rather than parsed as JSON (it would fail with its binary quoted back) or forwarded
 * (engines do not decompress requests): 415, as RFC 9110 §15.5.16 says for an unsupported content coding.
 */
export function checkContentEncoding(incoming: IncomingMessage): void {
  const coding = incoming.headers['content-encoding'];
  if (coding === undefined || coding.trim().toLowerCase() === 'identity' || coding.trim() === '') return;
  throw new GatewayError('unsupported_media_type', `Content-Encoding ${JSON.stringify(coding.slice(0, 40))} is not supported; send the body uncompressed.`, {
    wireCode: 'unsupported_content_encoding',
    headers: { 'accept-encoding': 'identity' },
  });
}

const EMPTY = Buffer.alloc(0);

/**
 * The whole body when the HTTP parser has already put it in the request's buffer, or null (still arriving, or over
 * the limit: readRequestBody answers those). A body that came in the read that brought its headers is buffered one
 * microtask after the request event (the parser's message-complete callback may come later, so a declared length
 * that is all there counts as whole): taken from the buffer then, it costs no listeners, no promise and none of the
 * stream's flowing-mode ticks.
 */
export function bufferedBody(incoming: IncomingMessage, limit: number): Buffer | null {
  const have = incoming.readableLength;
  if (have > limit || incoming.readableFlowing === true) return null;
  if (!incoming.complete && have !== Number(incoming.headers['content-length'])) return null;
  if (have === 0) return EMPTY;
  return incoming.read() as Buffer;
}

/**
 * The error for a body that never completed. When the HTTP parser refused it (and already answered the client),
 * the error carries that answer's status and code, so every record of the request agrees with what the client saw.
 */
function closedEarly(incoming: IncomingMessage): GatewayError | UpstreamFailure {
  const refusal = parserRefusalOf(incoming);
  // The client left in the middle of its upload: an abort, as one after the body is (499 client_closed_request).
  if (refusal === undefined) return new UpstreamFailure('aborted', new GatewayError('internal', 'The client closed the connection before sending the whole body.'));
  const code = refusal.status === 408 ? 'request_timeout' : refusal.status === 413 ? 'payload_too_large' : 'invalid_request';
  return new GatewayError(code, refusal.message, { status: refusal.status, wireCode: refusal.code });
}

/**
 * JSON.parse with an OpenAI-style 400 that says where the syntax broke, after the bytes are checked for what parsing
 * them would cost (at most `maxNodes` arrays, objects and members; json-bounds.ts).
 */
export function parseJsonBody(raw: Buffer, maxNodes: number): unknown {
  if (raw.length === 0) throw new GatewayError('invalid_request', 'The request body is empty; send a JSON object.', { wireCode: 'invalid_json' });
  const refusal = jsonBoundsRefusal(raw, maxNodes);
  if (refusal !== null) throw refusal;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (err) {
    const detail = err instanceof Error ? err.message : 'syntax error';
    throw new GatewayError('invalid_request', `We could not parse the JSON body of your request (${detail}).`, { wireCode: 'invalid_json' });
  }
}

