import { systemClock } from '../core/index.js';
import type { RequestCtx } from '../core/index.js';
import { answerClusterCollections, PROMETHEUS_CONTENT_TYPE } from './cluster-metrics.js';
import { createCollectorSet } from './collectors.js';
import { createMetrics } from './metrics.js';
import type { Metrics } from './metrics.js';
import { createLoggers, logRequest } from './request-log.js';
import { createTracing, tracingWantedByEnv } from './tracing.js';
import type { Tracing } from './tracing.js';
import type { AttemptSpan, RequestSpan, Telemetry, TelemetryOptions } from './types.js';

const EMPTY_METRICS = { contentType: PROMETHEUS_CONTENT_TYPE, body: '' };

export function createTelemetry(options: TelemetryOptions = {}): Telemetry {
  const clock = options.clock ?? systemClock;
  const serviceName = options.serviceName ?? (process.env.OTEL_SERVICE_NAME?.trim() || 'infergate');
  const loggers = createLoggers(options.log, serviceName);
  const logger = loggers.general;

  const metrics: Metrics | null =
    options.metrics === false
      ? null
      : createMetrics({ processMetrics: options.processMetrics ?? true, maxModelLabels: options.maxModelLabels ?? 100 });

  const tracingOption = options.tracing ?? 'auto';
  const tracingOn =
    tracingOption === 'auto' ? options.spanExporter !== undefined || tracingWantedByEnv(process.env) : tracingOption;
  // The one boolean the hot path checks: with tracing off no OpenTelemetry object is touched per request.
  const tracing: Tracing | null = tracingOn
    ? createTracing({ exporter: options.spanExporter, serviceName, clock, logger })
    : null;

  const collectors = createCollectorSet((msg, err) => logger.warn({ event: 'metrics_collector_failed', err }, msg));
  let shutdown: Promise<void> | null = null;
  /** Set in a cluster worker: `/metrics` answers for the whole host. */
  let clusterMetrics: (() => Promise<{ contentType: string; body: string }>) | null = null;
  const ownNames = (): ReadonlySet<string> => new Set(metrics?.registry.getMetricsAsArray().map((m) => m.name) ?? []);

  async function renderLocalMetrics(): Promise<{ contentType: string; body: string }> {
    if (metrics === null) return EMPTY_METRICS;
    const registry = metrics.registry;
    const body = (await registry.metrics()) + collectors.render(ownNames());
    return { contentType: registry.contentType, body };
  }

  return {
    tracingEnabled: tracing !== null,
    logger,

    startRequest(ctx: RequestCtx): RequestSpan | null {
      return tracing === null ? null : tracing.startRequest(ctx);
    },

    traceparentFor(ctx: RequestCtx, attempt: AttemptSpan | null): string | null {
      return attempt !== null ? attempt.traceparent : ctx.traceparent;
    },

    endRequest(ctx: RequestCtx, span: RequestSpan | null): void {
      const endMs = ctx.endMs ?? clock.now();
      // Telemetry must never fail a request: each sink is isolated, and a failure is logged, not thrown.
      try {
        metrics?.recordRequest(ctx, endMs);
      } catch (err) {
        logger.warn({ event: 'telemetry_sink_failed', sink: 'metrics', err, request_id: ctx.id }, 'recording request metrics failed');
      }
      const traceId = span === null ? null : span.traceId;
      try {
        logRequest(loggers, ctx, endMs, traceId);
      } catch (err) {
        logger.warn({ event: 'telemetry_sink_failed', sink: 'log', err, request_id: ctx.id }, 'writing the request log line failed');
      }
      if (span !== null && tracing !== null) {
        try {
          tracing.endRequest(span, endMs);
        } catch (err) {
          logger.warn({ event: 'telemetry_sink_failed', sink: 'trace', err, request_id: ctx.id }, 'ending the request span failed');
        }
      }
    },

    recordRetry: (model, reason) => metrics?.recordRetry(model, reason),
    recordRetryDenied: (model) => metrics?.recordRetryDenied(model),
    recordFallback: (fromModel, toModel) => metrics?.recordFallback(fromModel, toModel),
    recordRateLimited: (kind) => metrics?.recordRateLimited(kind),
    recordConfigReload: (ok) => metrics?.recordConfigReload(ok),
    recordQueueWait: (waitMs) => metrics?.recordQueueWait(waitMs),
    recordUsageBatch: (rows, durationMs) => metrics?.recordUsageBatch(rows, durationMs),
    setKnownModels: (models) => metrics?.setKnownModels(models),

    setLogLevel: (level) => loggers.setLevel(level),
    registerCollector: (name, collect) => collectors.register(name, collect),

    renderMetrics() {
      if (metrics === null) return Promise.resolve(EMPTY_METRICS);
      return clusterMetrics ? clusterMetrics() : renderLocalMetrics();
    },
    renderLocalMetrics,
    joinCluster(host) {
      answerClusterCollections(metrics ? [metrics.registry] : [], () => (metrics ? collectors.json(ownNames()) : []));
      clusterMetrics = host;
    },

    shutdown() {
      shutdown ??= (async () => {
        await tracing?.shutdown();
        await loggers.flush();
      })();
      return shutdown;
    },
  };
}
