import type { Logger } from 'pino';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Clock, RequestCtx } from '../core/index.js';

export type RateLimitKind = 'requests' | 'tokens' | 'concurrency' | 'quota';

export interface LogOptions {
  /** pino level name; default `info`. Per-request lines are written at `info` (5xx at `warn`, 500 at `error`). */
  level?: string;
  /** Human-readable output through `pino-pretty`, only if that package is installed; JSON otherwise. */
  pretty?: boolean;
  /** A stream, or a file descriptor (default 1, stdout: lines gathered in batches, written synchronously, flushed on exit). */
  destination?: NodeJS.WritableStream | number;
  /**
   * Other processes write lines to the same descriptor (the workers of `server.workers` and their supervisor): to a
   * pipe, batches then stay within PIPE_BUF so no line is split by another process's write. Default false.
   */
  sharedOutput?: boolean;
}

export interface TelemetryOptions {
  /** Prometheus metrics; default true. When false, every record call is a no-op and `/metrics` is empty. */
  metrics?: boolean;
  /**
   * Tracing; default `'auto'`: on iff `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
   * `OTEL_TRACES_EXPORTER` (other than `none`) is set, or a `spanExporter` is given. `OTEL_SDK_DISABLED=true` turns
   * `'auto'` off. Everything else (sampler, batch sizes, headers, resource) comes from the standard OTEL_* variables.
   */
  tracing?: boolean | 'auto';
  /** Replaces the env-configured exporter (tests inject an InMemorySpanExporter); spans are then exported synchronously. */
  spanExporter?: SpanExporter;
  log?: LogOptions;
  /** `service.name`; default `OTEL_SERVICE_NAME`, else `infergate`. */
  serviceName?: string;
  /** The clock the pipeline stamps `RequestCtx` with; span times are derived from it. Default `systemClock`. */
  clock?: Clock;
  /** Node process metrics (`process_*`, `nodejs_*`); default true. */
  processMetrics?: boolean;
  /**
   * Until `setKnownModels` is called, at most this many distinct model label values are kept; later ones are
   * reported as `_other`, so a client sending made-up model names cannot grow the series count. Default 100.
   */
  maxModelLabels?: number;
}

/** One sample of a scrape-time collector. */
export interface GaugeSample {
  /** Prometheus metric name; see `COLLECTOR_METRICS` for the names the gateway's modules are expected to use. */
  readonly name: string;
  readonly value: number;
  /**
   * Low-cardinality labels only (backend id, phase, state): never a subject or a request id. Undefined values are
   * skipped (accepted so that arrays of differently-labelled sample literals type-check without annotations).
   */
  readonly labels?: Readonly<Record<string, string | undefined>>;
  /** Defaults to the catalogue entry, or to a generic text. */
  readonly help?: string;
  /** Defaults to the catalogue entry, or `gauge`. A `counter` value must be monotonic (the collector keeps the total). */
  readonly type?: 'gauge' | 'counter';
  /**
   * How a supervisor (`server.workers` > 1) merges this metric across its workers' samples of the same labels:
   * prom-client's aggregators. Default: the catalogue entry, else `sum`, right for what each process counts or holds
   * of its own (requests, in-flight, bytes). A value every worker holds a copy of (something the supervisor hands
   * each worker, a view of the same backend every worker computes) must not be summed N times: `max` or `min`, and say
   * why where the sample is made. The first sample of a name decides for the whole family.
   */
  readonly aggregator?: MetricAggregator;
}

/** prom-client's cluster aggregators (lib/metricAggregators.js). */
export type MetricAggregator = 'sum' | 'first' | 'min' | 'max' | 'average' | 'omit';

/**
 * One metric family as prom-client's `registry.getMetricsAsJSON()` records it: what a cluster worker hands its
 * supervisor and `AggregatorRegistry.aggregate()` merges (prom-client's own typings name these with an enum type).
 */
export interface MetricFamilyJson {
  name: string;
  help: string;
  type: string;
  aggregator: MetricAggregator;
  values: { labels: Record<string, string | number>; value: number; metricName?: string }[];
}

/** The span of one routing decision. */
export interface RoutingSpan {
  end(chosenBackend: string | null, candidates?: number): void;
}

/** The span of one upstream attempt (HTTP client side). Every attempt span must be ended exactly once. */
export interface AttemptSpan {
  /** The W3C `traceparent` naming this attempt's span: send it to the backend so it can continue the trace. */
  readonly traceparent: string;
  /** Marks the first response byte from the backend (a span event). Optional. */
  firstByte(): void;
  /**
   * Ends the attempt. `errorType` is a low-cardinality class (`connect`, `timeout`, `status_5xx`, `reset`, a status
   * code ...) and marks the span as failed; omit it on success.
   */
  end(errorType?: string | null, statusCode?: number | null): void;
}

/** The span of one gateway request. Null (tracing off) costs nothing: callers write `span?.startAttempt(...)`. */
export interface RequestSpan {
  readonly traceId: string;
  /** `gen_ai.request.max_tokens`, when the client gave one (RequestCtx does not carry it). */
  setMaxTokens(maxTokens: number): void;
  startRouting(): RoutingSpan;
  /** Child span for one upstream attempt; `attemptNo` counts from 1. */
  startAttempt(backendId: string, attemptNo: number, upstreamModel?: string | null): AttemptSpan;
}

export interface Telemetry {
  readonly tracingEnabled: boolean;
  /** For non-request logs (startup, config reload). Never log request bodies or credentials with it. */
  readonly logger: Logger;
  /** Starts the request span, a child of the client's `traceparent` when there is one. Null when tracing is off. */
  startRequest(ctx: RequestCtx): RequestSpan | null;
  /**
   * The `traceparent` to send upstream: the attempt span's when tracing is on, otherwise the client's own
   * (pass-through), otherwise null. Send `ctx.tracestate` unchanged alongside it: the gateway adds no entries.
   */
  traceparentFor(ctx: RequestCtx, attempt: AttemptSpan | null): string | null;
  /**
   * Called exactly once when a request ends (success, error or client abort): counters and histograms, the one log
   * line, and the request span ended with its GenAI attributes. Reads `ctx.endMs` (or the clock when unset).
   */
  endRequest(ctx: RequestCtx, span: RequestSpan | null): void;
  recordRetry(model: string, reason: string): void;
  /** A retry the fleet-wide retry budget refused (the request ends with its last failure). */
  recordRetryDenied(model: string): void;
  recordFallback(fromModel: string, toModel: string): void;
  recordRateLimited(kind: RateLimitKind): void;
  recordConfigReload(ok: boolean): void;
  /** Time a request waited in the gateway's admission queue, when it waited at all. */
  recordQueueWait(waitMs: number): void;
  /** One usage-writer batch committed (called off the hot path by the writer). */
  recordUsageBatch(rows: number, durationMs: number): void;
  /** Changes the level of both the general logger and the request lines (e.g. on config reload). */
  setLogLevel(level: string): void;
  /** The configured model names (and aliases): exact model labels; anything else is `_other`. Call on each config compile. */
  setKnownModels(models: Iterable<string>): void;
  /**
   * Adds (or replaces, by name) a scrape-time source of gauge/counter samples; no work per request.
   * Returns a function that removes it.
   */
  registerCollector(name: string, collect: () => readonly GaugeSample[]): () => void;
  /** What `/metrics` serves: this process's metrics, or the host's once `joinCluster` was called. */
  renderMetrics(): Promise<{ contentType: string; body: string }>;
  /** This process's own metrics, whatever `joinCluster` set. */
  renderLocalMetrics(): Promise<{ contentType: string; body: string }>;
  /**
   * A cluster worker (`server.workers` > 1): answers its supervisor's collection requests with this process's
   * metrics (prom-client's AggregatorRegistry worker side) and serves `/metrics` from `host` from now on. Nothing
   * changes on the request path: the host's metrics are asked for and merged per scrape only.
   */
  joinCluster(host: () => Promise<{ contentType: string; body: string }>): void;
  /** Flushes spans and logs. Idempotent. */
  shutdown(): Promise<void>;
}
