import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Outcome, RequestCtx } from '../core/index.js';
import { HotCounter, HotHistogram } from './hot-metrics.js';
import type { HotCounterSeries, HotHistogramSeries } from './hot-metrics.js';
import { LABEL_NONE, LABEL_UNKNOWN, createBoundedLabel, errorType, operationName, statusClass } from './labels.js';
import {
  BUCKETS_REQUEST_DURATION_S,
  BUCKETS_TIME_PER_OUTPUT_TOKEN_S,
  BUCKETS_TIME_TO_FIRST_TOKEN_S,
  BUCKETS_TOKEN_USAGE,
} from './semconv.js';
import type { RateLimitKind } from './types.js';

/** Metric names, exported so tests, dashboards and the README refer to one spelling. */
export const METRIC = {
  requests: 'infergate_requests_total',
  requestDuration: 'gen_ai_server_request_duration_seconds',
  timeToFirstToken: 'gen_ai_server_time_to_first_token_seconds',
  timePerOutputToken: 'gen_ai_server_time_per_output_token_seconds',
  tokenUsage: 'gen_ai_client_token_usage',
  overhead: 'infergate_gateway_overhead_seconds',
  retries: 'infergate_retries_total',
  retriesDenied: 'infergate_retries_denied_total',
  fallbacks: 'infergate_fallbacks_total',
  rateLimited: 'infergate_rate_limit_rejections_total',
  configReloads: 'infergate_config_reloads_total',
  queueWait: 'infergate_queue_wait_seconds',
  usageBatchDuration: 'infergate_usage_batch_duration_seconds',
  usageRowsWritten: 'infergate_usage_rows_written_total',
} as const;

const RATE_LIMIT_KINDS: readonly RateLimitKind[] = ['requests', 'tokens', 'concurrency', 'quota'];
/** Retry reasons come from the upstream layer's failure classes; the cap only guards against a caller bug. */
const MAX_RETRY_REASONS = 16;

export interface MetricsOptions {
  processMetrics: boolean;
  maxModelLabels: number;
}

export interface Metrics {
  readonly registry: Registry;
  recordRequest(ctx: RequestCtx, endMs: number): void;
  recordRetry(model: string, reason: string): void;
  recordRetryDenied(model: string): void;
  recordFallback(fromModel: string, toModel: string): void;
  recordRateLimited(kind: RateLimitKind): void;
  recordConfigReload(ok: boolean): void;
  recordQueueWait(waitMs: number): void;
  recordUsageBatch(rows: number, durationMs: number): void;
  setKnownModels(models: Iterable<string>): void;
}

/**
 * Everything a request with this (model, endpoint) touches, resolved once: a request only indexes into it (no label
 * strings built, no map keyed by a concatenation) and updates plain numbers (see hot-metrics.ts).
 */
interface Bundle {
  readonly model: string;
  readonly endpoint: string;
  readonly operation: string | null;
  /** By outcome, then by status class index (statusIndex). */
  readonly requests: Map<Outcome, (HotCounterSeries | undefined)[]>;
  readonly durations: Map<string, HotHistogramSeries>;
  readonly ttft: HotHistogramSeries | null;
  readonly tpot: HotHistogramSeries | null;
  readonly inputTokens: HotHistogramSeries | null;
  readonly outputTokens: HotHistogramSeries | null;
  readonly overhead: HotHistogramSeries;
}

/** 1xx..5xx are 0..4; anything else is 5 (`_other`), as statusClass() decides. */
function statusIndex(status: number): number {
  const c = Math.floor(status / 100);
  return c >= 1 && c <= 5 ? c - 1 : 5;
}

export function createMetrics(options: MetricsOptions): Metrics {
  // A registry of our own, never prom-client's global one: tests (and embedders) can run several side by side.
  const registry = new Registry();
  const registers = [registry];
  if (options.processMetrics) {
    collectDefaultMetrics({ register: registry });
    // prom-client exposes these three totals as gauges named `_total`, which Prometheus reserves for counters
    // (`promtool check metrics` refuses them); the same numbers are the sum of `nodejs_active_{handles,requests,resources}`
    // over their `type` label, so they are dropped rather than renamed.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  }

  // The series every request touches are hot-metrics.ts objects; the rarer ones stay prom-client's own.
  const requests = new HotCounter({
    name: METRIC.requests,
    help: 'Requests finished by the gateway, by model, endpoint, status class and outcome.',
    labelNames: ['model', 'endpoint', 'status_class', 'outcome'] as const,
    registers,
  });
  const duration = new HotHistogram({
    name: METRIC.requestDuration,
    help: 'Gateway request duration, from arrival to the last byte sent (GenAI gen_ai.server.request.duration).',
    labelNames: ['gen_ai_operation_name', 'gen_ai_request_model', 'error_type'] as const,
    buckets: BUCKETS_REQUEST_DURATION_S,
    registers,
  });
  const ttft = new HotHistogram({
    name: METRIC.timeToFirstToken,
    help: 'Time to the first streamed byte for successful streaming requests (GenAI gen_ai.server.time_to_first_token).',
    labelNames: ['gen_ai_operation_name', 'gen_ai_request_model'],
    buckets: BUCKETS_TIME_TO_FIRST_TOKEN_S,
    registers,
  });
  const tpot = new HotHistogram({
    name: METRIC.timePerOutputToken,
    help: 'Time per output token after the first, for successful streaming requests (GenAI gen_ai.server.time_per_output_token).',
    labelNames: ['gen_ai_operation_name', 'gen_ai_request_model'],
    buckets: BUCKETS_TIME_PER_OUTPUT_TOKEN_S,
    registers,
  });
  const tokens = new HotHistogram({
    name: METRIC.tokenUsage,
    help: 'Tokens per request by type, as reported by the backend or counted (GenAI gen_ai.client.token.usage).',
    labelNames: ['gen_ai_operation_name', 'gen_ai_request_model', 'gen_ai_token_type'] as const,
    buckets: BUCKETS_TOKEN_USAGE,
    registers,
  });
  const overhead = new HotHistogram({
    name: METRIC.overhead,
    help: "The gateway's own share of request time (total minus upstream), the Server-Timing `gateway` value.",
    labelNames: ['endpoint'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers,
  });
  const retries = new Counter({
    name: METRIC.retries,
    help: 'Upstream attempts retried on another backend, by model and failure reason.',
    labelNames: ['model', 'reason'] as const,
    registers,
  });
  const retriesDenied = new Counter({
    name: METRIC.retriesDenied,
    help: 'Retries (another backend or a fallback model) refused by the fleet-wide retry budget, by model.',
    labelNames: ['model'] as const,
    registers,
  });
  const fallbacks = new Counter({
    name: METRIC.fallbacks,
    help: 'Requests that fell back from one model to another.',
    labelNames: ['from_model', 'to_model'] as const,
    registers,
  });
  // Hot too: under a flood of refused requests every refusal counts one.
  const rateLimited = new HotCounter({
    name: METRIC.rateLimited,
    help: 'Requests rejected by rate limits (requests, tokens, concurrency) or quotas.',
    labelNames: ['kind'] as const,
    registers,
  });
  const configReloads = new Counter({
    name: METRIC.configReloads,
    help: 'Configuration reloads by result; a failure keeps the last good configuration.',
    labelNames: ['result'] as const,
    // Every worker applies (or refuses) the same reload the supervisor hands it: each holds a copy of the host's count,
    // so summed it would read N. `max` rather than `first`: a worker restarted since holds fewer, and whichever worker
    // answers first must not make the counter go backwards between scrapes.
    aggregator: 'max',
    registers,
  });
  const queueWait = new Histogram({
    name: METRIC.queueWait,
    help: "Time requests waited in the gateway's admission queue.",
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const usageBatch = new Histogram({
    name: METRIC.usageBatchDuration,
    help: 'Duration of one usage-writer batch transaction.',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers,
  });
  const usageRows = new Counter({ name: METRIC.usageRowsWritten, help: 'Usage rows written.', registers });

  // Series that should read 0 rather than be absent, so rate() and alerts work before the first event.
  const rateLimitedBy = new Map<RateLimitKind, HotCounterSeries>();
  for (const kind of RATE_LIMIT_KINDS) {
    const series = rateLimited.series(kind);
    series.touch();
    rateLimitedBy.set(kind, series);
  }
  const reloadOk = configReloads.labels('success');
  const reloadFailed = configReloads.labels('failure');
  reloadOk.inc(0);
  reloadFailed.inc(0);

  const modelLabel = createBoundedLabel(options.maxModelLabels);
  const reasonLabel = createBoundedLabel(MAX_RETRY_REASONS);
  // By endpoint, then model: two lookups on strings the request already holds, no key built per request.
  const bundles = new Map<RequestCtx['endpoint'], Map<string, Bundle>>();

  function bundleFor(model: string, endpoint: RequestCtx['endpoint']): Bundle {
    let byModel = bundles.get(endpoint);
    if (byModel === undefined) bundles.set(endpoint, (byModel = new Map()));
    let b = byModel.get(model);
    if (b !== undefined) return b;
    const op = endpoint === null ? null : operationName(endpoint);
    b = {
      model,
      endpoint: endpoint ?? LABEL_NONE,
      operation: op,
      requests: new Map(),
      durations: new Map(),
      ttft: op === null ? null : ttft.series(op, model),
      tpot: op === null ? null : tpot.series(op, model),
      inputTokens: op === null ? null : tokens.series(op, model, 'input'),
      outputTokens: op === null ? null : tokens.series(op, model, 'output'),
      overhead: overhead.series(endpoint ?? LABEL_NONE),
    };
    byModel.set(model, b);
    return b;
  }

  function recordRequest(ctx: RequestCtx, endMs: number): void {
    const model = ctx.errorCode === 'model_not_found' ? LABEL_UNKNOWN : modelLabel(ctx.requestedModel);
    const b = bundleFor(model, ctx.endpoint);

    let byClass = b.requests.get(ctx.outcome);
    if (byClass === undefined) b.requests.set(ctx.outcome, (byClass = []));
    const si = statusIndex(ctx.status);
    let counter = byClass[si];
    if (counter === undefined) byClass[si] = counter = requests.series(b.model, b.endpoint, statusClass(ctx.status), ctx.outcome);
    counter.inc();

    const totalMs = endMs - ctx.startMs;
    if (ctx.upstreamMs !== null) b.overhead.observe(Math.max(0, totalMs - ctx.upstreamMs) / 1000);
    // Requests that never reached an endpoint (unknown route, auth failure before parsing) are not GenAI operations.
    if (b.operation === null) return;

    const et = errorType(ctx);
    let hist = b.durations.get(et);
    if (hist === undefined) {
      hist = duration.series(b.operation, b.model, et);
      b.durations.set(et, hist);
    }
    hist.observe(totalMs / 1000);

    const usage = ctx.usage;
    // Streaming only: for a non-streamed response the first byte is the whole body, not the first token.
    if (ctx.stream && ctx.outcome === 'success' && ctx.firstByteMs !== null) {
      b.ttft?.observe(Math.max(0, ctx.firstByteMs - ctx.startMs) / 1000);
      const out = usage?.completionTokens ?? 0;
      if (out > 1) b.tpot?.observe(Math.max(0, endMs - ctx.firstByteMs) / (out - 1) / 1000);
    }
    // The convention forbids reporting token usage that was not obtained: estimates stay out of the histogram.
    if (usage !== null && usage.source !== 'estimated') {
      b.inputTokens?.observe(usage.promptTokens);
      if (ctx.endpoint !== 'embeddings') b.outputTokens?.observe(usage.completionTokens);
    }
  }

  return {
    registry,
    recordRequest,
    recordRetry(model, reason) {
      retries.labels(modelLabel(model), reasonLabel(reason)).inc();
    },
    recordRetryDenied(model) {
      retriesDenied.labels(modelLabel(model)).inc();
    },
    recordFallback(fromModel, toModel) {
      fallbacks.labels(modelLabel(fromModel), modelLabel(toModel)).inc();
    },
    recordRateLimited(kind) {
      (rateLimitedBy.get(kind) ?? rateLimited.series(kind)).inc();
    },
    recordConfigReload(ok) {
      (ok ? reloadOk : reloadFailed).inc();
    },
    recordQueueWait(waitMs) {
      queueWait.observe(Math.max(0, waitMs) / 1000);
    },
    recordUsageBatch(rows, durationMs) {
      usageBatch.observe(Math.max(0, durationMs) / 1000);
      if (rows > 0) usageRows.inc(rows);
    },
    setKnownModels(models) {
      modelLabel.setKnown(models);
      // Bundles hold label values decided under the old rule; drop them so the new rule applies from now on.
      bundles.clear();
    },
  };
}
