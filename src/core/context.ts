/**
 * The endpoint families the gateway serves; the shared pipeline is parameterised by these, and each is an operation
 * name in scopes (`models:<glob>:<op>`). `tokenize` covers /tokenize and /detokenize; `audio` covers transcriptions and
 * translations; `responses` covers creating, retrieving and cancelling; `messages` covers count_tokens.
 */
export const ENDPOINTS = ['chat', 'completions', 'embeddings', 'responses', 'messages', 'rerank', 'score', 'tokenize', 'audio'] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

/** Who is calling. Filled by auth; `anonymous` when auth is off. */
export interface Principal {
  readonly subject: string;
  readonly team: string | null;
  readonly scopes: ReadonlySet<string>;
  /** Public id of the gateway-managed API key used, or null for other credentials (JWTs, auth off). */
  readonly keyId?: string | null;
}

export const ANONYMOUS: Principal = Object.freeze({ subject: 'anonymous', team: null, scopes: new Set<string>(['*']) });

/** Where the token counts in a usage row came from. */
export type UsageSource = 'backend' | 'counted' | 'estimated';

export interface UsageCounts {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  source: UsageSource;
}

/** How a request ended, for usage rows, metrics and logs. */
export type Outcome = 'success' | 'client_error' | 'upstream_error' | 'client_abort' | 'rate_limited' | 'unauthorized';

/**
 * Per-request state carried through the pipeline. Feature modules take this plain object, never Hono's context,
 * so they are testable without HTTP.
 */
export interface RequestCtx {
  readonly id: string;
  /** Monotonic start (ms) and wall-clock start (epoch ms). */
  readonly startMs: number;
  readonly startWallMs: number;
  endpoint: Endpoint | null;
  principal: Principal;
  requestedModel: string | null;
  upstreamModel: string | null;
  backendId: string | null;
  stream: boolean;
  status: number;
  errorCode: string | null;
  outcome: Outcome;
  /** Monotonic time the first byte of the response body reached the client, or null. */
  firstByteMs: number | null;
  endMs: number | null;
  attempts: number;
  usage: UsageCounts | null;
  /** Prompt token estimate made before routing. */
  promptTokenEstimate: number;
  /** Backend's own processing time for Server-Timing (ms), when known. */
  upstreamMs: number | null;
  /** W3C trace context from the client, propagated upstream. */
  traceparent: string | null;
  tracestate: string | null;
}

export function createRequestCtx(id: string, startMs: number, startWallMs: number): RequestCtx {
  return {
    id,
    startMs,
    startWallMs,
    endpoint: null,
    principal: ANONYMOUS,
    requestedModel: null,
    upstreamModel: null,
    backendId: null,
    stream: false,
    status: 200,
    errorCode: null,
    outcome: 'success',
    firstByteMs: null,
    endMs: null,
    attempts: 0,
    usage: null,
    promptTokenEstimate: 0,
    upstreamMs: null,
    traceparent: null,
    tracestate: null,
  };
}
