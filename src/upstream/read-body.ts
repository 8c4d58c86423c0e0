import { GatewayError, SHOULD_RETRY_HEADER, isJsonSpace, skipJsonSpace } from '../core/index.js';
import type { AttemptConsumer, OpenAttempt } from './attempt.js';
import { UpstreamFailure } from './errors.js';
import { fixFinishReasons, type FinishReasonSet } from './finish-reason.js';

/** Media types are case-insensitive (RFC 9110). */
const JSON_TYPE = /json/i;

export interface ReadBodyOptions {
  /** Largest body accepted (server.response_limit); past it the attempt is aborted and the client gets a 502. */
  readonly limit: number;
  /** Which OpenAI `finish_reason` values are valid, or null for bodies without one (embeddings). */
  readonly finishReasons: FinishReasonSet | null;
  /** Accept a body that is not JSON (audio transcripts as text, SRT or VTT); default false. */
  readonly anyContent?: boolean;
}

function hasBom(b: Buffer): boolean {
  return b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf;
}

/** A 200 body must be a JSON document; a text or HTML page, or a truncated document, is the backend's failure. */
function looksLikeJsonObject(body: Buffer, contentType: string | undefined): boolean {
  let i = 0;
  let j = body.length - 1;
  i = skipJsonSpace(body, i, j + 1);
  while (j >= i && isJsonSpace(body[j])) j--;
  if (i > j || body[i] !== 0x7b || body[j] !== 0x7d) return false;
  if (contentType !== undefined && JSON_TYPE.test(contentType)) return true;
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
 * Non-OpenAI `finish_reason` values are rewritten. A body that had already arrived with the response head (a short
 * answer usually comes in the same read) is returned as is, or its failure thrown, without a promise: one turn of
 * the microtask queue less per request.
 */
export function readBody(attempt: OpenAttempt, opts: ReadBodyOptions): Buffer | Promise<Buffer> {
  const reader = new BodyReader(attempt, opts);
  attempt.consume(reader);
  return reader.outcome();
}

const enum State {
  Reading,
  Read,
  Failed,
}

/**
 * The attempt's consumer: a class, so that one object per request holds what three closures and their scope did.
 * It settles once; until someone waits for it (outcome), it keeps the body or the failure.
 */
class BodyReader implements AttemptConsumer {
  readonly #parts: Buffer[] = [];
  #size = 0;
  #state = State.Reading;
  #body: Buffer | null = null;
  #failure: unknown = null;
  #resolve: ((body: Buffer) => void) | null = null;
  #reject: ((err: unknown) => void) | null = null;
  constructor(
    readonly attempt: OpenAttempt,
    readonly opts: ReadBodyOptions,
  ) {}

  /** The body, or its failure thrown, when the reader already settled; otherwise a promise of them. */
  outcome(): Buffer | Promise<Buffer> {
    if (this.#state === State.Read) return this.#body!;
    if (this.#state === State.Failed) throw this.#failure;
    return new Promise<Buffer>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  #succeed(body: Buffer): void {
    this.#state = State.Read;
    if (this.#resolve) this.#resolve(body);
    else this.#body = body;
  }

  #fail(err: unknown): void {
    this.#state = State.Failed;
    this.#parts.length = 0;
    if (this.#reject) this.#reject(err);
    else this.#failure = err;
  }

  data(chunk: Buffer): void {
    if (this.#state !== State.Reading) return;
    this.#size += chunk.length;
    if (this.#size > this.opts.limit) {
      // The request sized this answer (a thousand embeddings, n with logprobs): any backend would send as much, so it
      // is neither held against this one's health nor tried on another, or one caller could eject a whole pool; nor
      // retried by the client's SDK, which would have every backend make (and the caller pay for) it twice more.
      this.#fail(
        new UpstreamFailure(
          'bad_response',
          new GatewayError('upstream_error', `Backend ${this.attempt.backendLabel} sent a response larger than server.response_limit (${this.opts.limit} bytes); ask for less in one request.`, {
            wireCode: 'upstream_response_too_large',
            headers: { [SHOULD_RETRY_HEADER]: 'false' },
          }),
          false,
          false,
        ),
      );
      this.attempt.abort('client');
      return;
    }
    this.#parts.push(chunk);
  }

  end(): void {
    if (this.#state !== State.Reading) return;
    const { attempt, opts } = this;
    const parts = this.#parts;
    const whole = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.#size);
    // A UTF-8 byte order mark before the JSON text (written by some proxies and .NET servers): RFC 8259 lets a parser
    // ignore it, and the client's parser may not.
    const body = hasBom(whole) ? whole.subarray(3) : whole;
    if (opts.anyContent !== true && !looksLikeJsonObject(body, attempt.contentType)) {
      this.#fail(
        new UpstreamFailure(
          'bad_response',
          new GatewayError('upstream_error', `Backend ${attempt.backendLabel} answered HTTP ${attempt.status} with a body that is not JSON.`, {
            wireCode: 'upstream_invalid_response',
          }),
        ),
      );
      return;
    }
    this.#succeed(opts.finishReasons === null ? body : (fixFinishReasons(body, 0, body.length, opts.finishReasons) ?? body));
  }

  error(failure: UpstreamFailure): void {
    if (this.#state === State.Reading) this.#fail(failure);
  }
}
