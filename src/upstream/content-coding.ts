import zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import { GatewayError } from '../core/index.js';
import { UpstreamFailure } from './errors.js';

/**
 * Response bodies a backend compressed although the gateway asks for `identity` (a proxy in front of an engine that
 * compresses regardless, or one that reads a missing Accept-Encoding as "anything goes", as RFC 9110 allows). The
 * gateway answers its clients uncompressed and reads bodies for usage and errors, so it decodes them itself: relayed
 * as they came, the client got gzip bytes under its `application/json` or `text/event-stream` head.
 */

type Coding = 'gzip' | 'deflate' | 'br' | 'zstd';

const zstd = (zlib as { createZstdDecompress?: () => Transform }).createZstdDecompress;

/** The coding named by a Content-Encoding value; null for identity, a string for one the gateway cannot decode. */
export function codingOf(value: string): Coding | null | string {
  const v = value.trim().toLowerCase();
  if (v === '' || v === 'identity') return null;
  if (v === 'gzip' || v === 'x-gzip') return 'gzip';
  if (v === 'deflate' || v === 'br') return v;
  if (v === 'zstd' && zstd !== undefined) return 'zstd';
  return value.trim();
}

function isCoding(c: Coding | string): c is Coding {
  return c === 'gzip' || c === 'deflate' || c === 'br' || c === 'zstd';
}

function decoderStream(coding: Coding): Transform {
  if (coding === 'br') return zlib.createBrotliDecompress();
  if (coding === 'zstd') return zstd!();
  // Unzip reads a gzip or a zlib header alike: "deflate" is sent both ways in the wild.
  return zlib.createUnzip();
}

function undecodable(backendLabel: string, what: string): UpstreamFailure {
  return new UpstreamFailure('bad_response', new GatewayError('upstream_error', `Backend ${backendLabel} answered with ${what}.`, { wireCode: 'upstream_invalid_response' }));
}

/** What attempt.ts calls AttemptConsumer, repeated here: attempt.ts imports this module. */
interface AttemptConsumer {
  data(chunk: Buffer): void;
  end(): void;
  error(failure: UpstreamFailure): void;
}

/** The attempt, ended when its body cannot be decoded. */
interface Flow {
  abort(reason: 'client'): void;
}

/**
 * A consumer in front of another that decodes the body on its way. Decoded output is bounded by the inner
 * consumer's own limits (response_limit, max_event_size), which see decoded bytes; the decoder is destroyed as soon
 * as the attempt ends either way. `pause` / `resume` hold its output while the client is slow.
 */
export class DecodingConsumer implements AttemptConsumer {
  readonly #inner: AttemptConsumer;
  readonly #decoder: Transform;
  #done = false;

  constructor(inner: AttemptConsumer, coding: Coding, backendLabel: string, flow: Flow) {
    this.#inner = inner;
    this.#decoder = decoderStream(coding);
    this.#decoder.on('data', (chunk: Buffer) => {
      if (!this.#done) inner.data(chunk);
    });
    this.#decoder.on('end', () => {
      if (this.#done) return;
      this.#done = true;
      inner.end();
    });
    this.#decoder.on('error', () => {
      if (this.#done) return;
      this.#done = true;
      inner.error(undecodable(backendLabel, `a ${coding} body that does not decode`));
      flow.abort('client');
    });
  }

  data(chunk: Buffer): void {
    if (!this.#done) this.#decoder.write(chunk);
  }

  end(): void {
    if (!this.#done) this.#decoder.end();
  }

  error(failure: UpstreamFailure): void {
    if (this.#done) return;
    this.#done = true;
    this.#decoder.destroy();
    this.#inner.error(failure);
  }

  pause(): void {
    this.#decoder.pause();
  }

  resume(): void {
    this.#decoder.resume();
  }
}

/**
 * The consumer that reads a body sent with `contentEncoding`: the consumer itself for identity, a decoding one in
 * front of it, or null after failing it with a 502 when the coding is one the gateway cannot decode (tried on
 * another backend: nothing has reached the client).
 */
export function decodingConsumer(inner: AttemptConsumer, contentEncoding: string, backendLabel: string, flow: Flow): AttemptConsumer | DecodingConsumer | null {
  const coding = codingOf(contentEncoding);
  if (coding === null) return inner;
  if (isCoding(coding)) return new DecodingConsumer(inner, coding, backendLabel, flow);
  inner.error(undecodable(backendLabel, `Content-Encoding: ${coding.slice(0, 64)}, which the gateway cannot decode`));
  flow.abort('client');
  return null;
}

/** An error body (at most a few KiB, read whole) decoded at once; what cannot be decoded is read as empty. */
export function decodeErrorBody(body: Buffer, contentEncoding: string, maxBytes: number): Buffer {
  const coding = codingOf(contentEncoding);
  if (coding === null) return body;
  if (!isCoding(coding) || coding === 'zstd') return Buffer.alloc(0);
  // The body may have been cut at maxBytes: a sync flush returns what decodes so far instead of throwing on the end.
  const opts = { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: maxBytes };
  try {
    return coding === 'br' ? zlib.brotliDecompressSync(body, { ...opts, finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH }) : zlib.unzipSync(body, opts);
  } catch {
    return Buffer.alloc(0);
  }
}
