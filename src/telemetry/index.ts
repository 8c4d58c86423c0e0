export { createTelemetry } from './telemetry.js';
export { serverTiming } from './server-timing.js';
export { COLLECTOR_METRICS } from './collectors.js';
export type { CollectorMetricName } from './collectors.js';
export { METRIC } from './metrics.js';
export { CLUSTER_METRICS_REQUEST, CLUSTER_METRICS_RESPONSE, PROMETHEUS_CONTENT_TYPE, mergeClusterMetrics } from './cluster-metrics.js';
export { tracingWantedByEnv } from './tracing.js';
export type {
  AttemptSpan,
  GaugeSample,
  MetricAggregator,
  MetricFamilyJson,
  LogOptions,
  RateLimitKind,
  RequestSpan,
  RoutingSpan,
  Telemetry,
  TelemetryOptions,
} from './types.js';
