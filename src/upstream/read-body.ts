import { GatewayError, isJsonSpace, skipJsonSpace } from '../core/index.js';
import type { AttemptConsumer, OpenAttempt } from './attempt.js';
import { UpstreamFailure } from './errors.js';
import { fixFinishReasons, type FinishReasonSet } from './finish-reason.js';

export interface ReadBodyOptions {
  /** Largest body accepted (server.response_limit); past it the attempt is aborted and the client gets a 502. */
  readonly limit: number;
  /** Which OpenAI `finish_reason` values are valid, or null for bodies without one (embeddings). */
  readonly finishReasons: FinishReasonSet | null;
  /** Accept a body that is not JSON (audio transcripts as text, SRT or VTT); default false. */
  readonly anyContent?: boolean;
}

/** A 200 body must be a JSON document; a text or HTML page, or a truncated document, is the backend's failure. */
function looksLikeJsonObject(body: Buffer, contentType: string | undefined): boolean {
  let i = 0;
  let j = body.length - 1;
  i = skipJsonSpace(body, i, j + 1);
  while (j >= i && isJsonSpace(body[j])) j--;
  if (i > j || body[i] !== 0x7b || body[j] !== 0x7d) return false;
  if (contentType !== undefined && contentType.includes('json')) return true;
  // No JSON content type: parse to be sure (rare; engines label their JSON).
  try {
    JSON.parse(body.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads a whole non-streamed body, bounded; failures reject with an UpstreamFailure (nothing has reached the client).
 * Non-OpenAI `finish_reason` values are rewritten.
 */
export function readBody(attempt: OpenAttempt, opts: ReadBodyOptions): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => attempt.consume(new BodyReader(attempt, opts, resolve, reject)));
}

/** The attempt's consumer: a class, so that one object per request holds what three closures and their scope did. */
class BodyReader implements AttemptConsumer {
  readonly #parts: Buffer[] = [];
  #size = 0;
  #failed = false;
  constructor(
    readonly attempt: OpenAttempt,
    readonly opts: ReadBodyOptions,
    readonly resolve: (body: Buffer) => void,
    readonly reject: (err: unknown) => void,
  ) {}

  data(chunk: Buffer): void {
    if (this.#failed) return;
    this.#size += chunk.length;
    if (this.#size > this.opts.limit) {
      this.#failed = true;
      this.#parts.length = 0;
      this.reject(
        new UpstreamFailure(
          'bad_response',
          new GatewayError('upstream_error', `Backend ${this.attempt.backendId} sent a response larger than server.response_limit (${this.opts.limit} bytes).`, {
            wireCode: 'upstream_response_too_large',
          }),
        ),
      );
      this.attempt.abort('client');
      return;
    }
    this.#parts.push(chunk);
  }

  end(): void {
    if (this.#failed) return;
    const { attempt, opts } = this;
    const parts = this.#parts;
    const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.#size);
    const ct = attempt.headers['content-type'];
    if (opts.anyContent !== true && !looksLikeJsonObject(body, Array.isArray(ct) ? ct[0] : ct)) {
      this.reject(
        new UpstreamFailure(
          'bad_response',
          new GatewayError('upstream_error', `Backend ${attempt.backendId} answered HTTP ${attempt.status} with a body that is not JSON.`, {
            wireCode: 'upstream_invalid_response',
          }),
        ),
      );
      return;
    }
    this.resolve(opts.finishReasons === null ? body : (fixFinishReasons(body, 0, body.length, opts.finishReasons) ?? body));
  }

  error(failure: UpstreamFailure): void {
    if (!this.#failed) this.reject(failure);
  }
}
