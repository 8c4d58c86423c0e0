import type { Endpoint } from '../core/index.js';

/**
 * What routing knows about one backend in a model's pool. Built once per config compile; `id` is stable across
 * reloads for the same URL, so live state (load, health, prefix index) survives a reload.
 */
export interface BackendTarget {
  /** Stable id: the normalised base URL (`http://host:port`), unique per backend process. */
  readonly id: string;
  readonly url: string;
  readonly kind: 'vllm' | 'sglang' | 'tgi' | 'llamacpp' | 'ollama' | 'openai';
  readonly weight: number;
  /** Upstream model name to send to this backend. */
  readonly model: string;
  /** `scheme://host:port`; the monitor's paths are sent there. Default: `url`'s origin. */
  readonly origin?: string;
  /**
   * What the monitor polls, from the compiled config: `probe` is the liveness check (`/health`, Ollama's
   * `/api/version`, a generic OpenAI server's `/v1/models`), `metrics` the Prometheus page; null when the kind has
   * none. Paths are on the server's root, never under a base URL's `/v1`. Default (targets built by hand, as the
   * benchmark and unit tests do): `/health` and `/metrics`.
   */
  readonly paths?: { readonly probe: string | null; readonly metrics: string | null };
  /** `Authorization` header value; sent with a probe that is an API call (kind `openai`). */
  readonly authorization?: string | null;
}

/** The structured log calls routing makes outside requests (health transitions, missing endpoints); pino fits. */
export interface RoutingLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export type PolicyName =
  | 'round_robin'
  | 'random'
  | 'least_requests'
  | 'power_of_two'
  | 'weighted'
  | 'epp_default'
  | 'sticky_until_saturated'
  | 'sglang_cache_aware'
  | 'lmetric'
  | 'token_aware';

/** One model's pool as routing sees it (built at config compile; the same object until the next reload). */
export interface PoolSpec {
  readonly name: string;
  readonly policy: PolicyName;
  readonly targets: readonly BackendTarget[];
}

/** What the router is told about a request before it picks. Pure data, no HTTP. */
export interface RouteRequest {
  readonly endpoint: Endpoint;
  /** Estimated prompt tokens (tiktoken count or calibrated chars/token). */
  readonly promptTokens: number;
  /** The prompt as the backend's template would render it (used for prefix hashing); may be '' for embeddings. */
  readonly promptText: string;
  /** max_tokens / max_completion_tokens if the client gave one. */
  readonly maxTokens: number | null;
  /** Session hint: `user`, `prompt_cache_key` or `x-session-id`. */
  readonly sessionKey: string | null;
  /**
   * Routing's memo of this request (its profile), kept on the request itself: a WeakMap entry per request cost about
   * a microsecond (V8's ephemeron write barrier on every set). Callers leave it undefined; only routing reads it.
   */
  routingMemo?: unknown;
}

/** Outcome classes the upstream layer reports back so health and load stay correct. */
export type AttemptFailure = 'connect' | 'timeout' | 'status_5xx' | 'status_429' | 'reset';

/**
 * The lifecycle of one upstream attempt as routing sees it. Every `begin` is matched by exactly one `end`.
 * Calls happen on the hot path: implementations must be O(1) or O(log n) and allocation-light.
 */
export interface AttemptTracker {
  /** First byte of the response body arrived from the backend. */
  firstToken(): void;
  /** n more output tokens were relayed (from the stream). */
  tokens(n: number): void;
  /** The attempt ended. usage is the backend's report when known. */
  end(result: { ok: boolean; failure?: AttemptFailure; promptTokens?: number; cachedTokens?: number; completionTokens?: number }): void;
}
