import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { CompiledBackend, Config } from '../config/index.js';
import type { Endpoint, GatewayError, RequestCtx } from '../core/index.js';
import type { BackendUsage } from '../upstream/index.js';
import type { EventTransform } from './event-relay.js';

/**
 * An endpoint family beyond chat, completions and embeddings (Responses, Messages, rerank, score, tokenize, audio):
 * the parameters of the one pipeline for it. The pipeline still does authentication, scopes, limits, routing,
 * failover, usage rows, metrics and spans; a family only says how its requests read, what each backend is sent, and
 * how answers and errors look on its wire.
 */
export interface Family {
  readonly endpoint: Endpoint;
  /** The gateway credential as an `Authorization` value (the Messages API also accepts `x-api-key`). */
  credential(headers: IncomingHttpHeaders): string | undefined;
  /**
   * Reads and validates one request (the body limit applies, and a JSON body's bound on what parsing it may cost; the
   * caller is authenticated); throws 4xx GatewayErrors.
   */
  read(incoming: IncomingMessage, limits: BodyLimits, ctx: RequestCtx): Promise<FamilyRequest>;
  /** Writes an error in the family's envelope (before a stream started) and returns the status. */
  writeError(out: ServerResponse, err: unknown, headers: Record<string, string>): number;
  /** A header that carries the request id beside `x-request-id` on every answer (Anthropic's SDK reads `request-id`). */
  readonly requestIdHeader?: string;
}

/** The server settings that bound a request body (the config's server section is one). */
export type BodyLimits = Pick<Config['server'], 'body_limit' | 'max_json_nodes'>;

/** What the pipeline routes and governs on, read from the family's own request shape. */
export interface FamilyRequest {
  readonly model: string;
  readonly stream: boolean;
  /** The client's output cap, or null. */
  readonly maxTokens: number | null;
  /** Whether the request generates tokens (reserved against token limits, observed for output estimates). */
  readonly generates: boolean;
  /** The prompt text, for the token estimate and prefix-affinity routing; '' when there is none. */
  readonly promptText: string;
  readonly sessionKey: string | null;
  /** Only this backend may serve the request (a stored response lives where it was created). */
  readonly pinnedBackend: string | null;
  /** Whether this backend can serve the request (its engine serves the family, natively or by translation). */
  serves(backend: CompiledBackend): boolean;
  /** Why no backend of the model can serve it, when the family can say better than "not served" (a 400). */
  refusal?(): GatewayError | null;
  /** The upstream call for one backend that serves it. Throws a 400 GatewayError for a feature it cannot serve. */
  call(backend: CompiledBackend): FamilyCall;
  /** False once an upload that cannot be sent twice has started flowing (no retry after that). */
  replayable(): boolean;
  /**
   * An upload streamed to the backend that failed on the client's side (over the body limit, the client gone): the
   * attempt's broken request body is then the client's error, answered as such, and not held against the backend.
   */
  clientFailure?(): GatewayError | null;
  /**
   * Tells the backend to stop at `tokens` of output: a request without a cap of its own under a token limit or quota
   * is capped at what was reserved for it (pipeline.ts). A family without an output cap of its own leaves it out.
   */
  capOutput?(tokens: number | null): void;
  /** Releases what the request holds (a spooled upload), whatever the outcome. */
  dispose?(): void;
}

/** One upstream call for one backend. */
export interface FamilyCall {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly path: string;
  readonly body: Buffer | Readable | null;
  /** Default `application/json`. */
  readonly contentType?: string;
  /** Streams: the event transform (translation, or pass-through with usage taps); null relays SSE byte for byte. */
  readonly events: EventTransform | null;
  /** Non-streamed answers: the body for the client (a translation), or the backend's as is when absent. */
  mapBody?(data: Buffer): Buffer;
  /** Non-streamed answers may be other than JSON (audio as text, SRT, VTT): relayed with the backend's content type. */
  readonly anyContent?: boolean;
  /** Non-streamed answers: the backend's usage when the generic `usage` tap cannot read it. */
  usage?(data: Buffer): BackendUsage | null;
  /**
   * A translation: the client's name for a field the backend's error names in the translated request (`max_tokens`
   * of a Responses request is its `max_output_tokens`), so `param` names a field the client sent.
   */
  clientParam?(param: string): string;
}

/** The Bearer credential from `Authorization`, the OpenAI convention. */
export function bearerCredential(headers: IncomingHttpHeaders): string | undefined {
  return headers.authorization;
}

/** Error frames after a stream started, in a family's shape. */
export type StreamErrorFrame = (err: GatewayError) => string;
