import { createRequire } from 'node:module';
import { DiagLogLevel, ROOT_CONTEXT, diag } from '@opentelemetry/api';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';
import type { Clock, RequestCtx } from '../core/index.js';
import { RequestSpanImpl } from './spans.js';
import type { SpanEnv } from './spans.js';
import { createAddressCache, requestCtxGetter } from './trace-context.js';
import type { RequestSpan } from './types.js';

/** The `'auto'` rule: tracing is on when the standard variables point it somewhere. */
export function tracingWantedByEnv(env: NodeJS.ProcessEnv): boolean {
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').trim().toLowerCase();
  if (exporters !== '') return exporters !== 'none';
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

export interface TracingOptions {
  /** Injected exporter (tests): exported synchronously. Otherwise exporters come from OTEL_TRACES_EXPORTER. */
  exporter: SpanExporter | undefined;
  serviceName: string;
  clock: Clock;
  logger: Logger;
}

export interface Tracing {
  startRequest(ctx: RequestCtx): RequestSpan;
  endRequest(span: RequestSpan, endMs: number): void;
  shutdown(): Promise<void>;
}

// The SDK, the OTLP exporter and resource detection (about 6 MB resident with their Node modules) are loaded when
// tracing is turned on, not at import: with tracing off (the default) the process never holds them. They are
// CommonJS-compatible packages and the API keeps its registry on a global, so these copies share it with the
// `@opentelemetry/api` imported above.
const load = createRequire(import.meta.url);
const sdk = () => ({
  core: load('@opentelemetry/core') as typeof import('@opentelemetry/core'),
  otlp: load('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http'),
  resources: load('@opentelemetry/resources') as typeof import('@opentelemetry/resources'),
  trace: load('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base'),
});

export function createTracing(options: TracingOptions): Tracing {
  const { logger } = options;
  const { core, resources, trace } = sdk();
  const { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor } = trace;
  const { defaultResource, detectResources, envDetector, resourceFromAttributes } = resources;
  const processors: SpanProcessor[] = [];
  if (options.exporter !== undefined) {
    processors.push(new SimpleSpanProcessor(options.exporter));
  } else {
    routeDiagToLogger(logger);
    // BatchSpanProcessor reads OTEL_BSP_*; the OTLP exporter reads OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout).
    for (const exporter of exportersFromEnv(process.env, logger)) processors.push(new BatchSpanProcessor(exporter));
  }

  const resource = defaultResource()
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(resourceFromAttributes({ 'service.name': options.serviceName }));
  // Not registered as the global provider: the gateway passes contexts explicitly, and tests can run several.
  // The sampler comes from OTEL_TRACES_SAMPLER (default parent-based always-on).
  const provider = new BasicTracerProvider({ resource, spanProcessors: processors });
  const env: SpanEnv = {
    tracer: provider.getTracer('infergate'),
    clock: options.clock,
    addressOf: createAddressCache(),
  };
  const propagator = new core.W3CTraceContextPropagator();
  let shutdown: Promise<void> | null = null;

  return {
    startRequest(ctx) {
      const parent = ctx.traceparent === null ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, ctx, requestCtxGetter);
      return new RequestSpanImpl(env, ctx, parent);
    },
    endRequest(span, endMs) {
      // Only spans this module made carry the request's state; anything else is a caller bug, not worth a throw.
      if (span instanceof RequestSpanImpl) span.finish(endMs);
    },
    shutdown() {
      shutdown ??= provider.shutdown().catch((err: unknown) => logger.warn({ event: 'tracing_shutdown_failed', err }, 'span exporter shutdown failed'));
      return shutdown;
    },
  };
}

function exportersFromEnv(env: NodeJS.ProcessEnv, logger: Logger): SpanExporter[] {
  const names = (env.OTEL_TRACES_EXPORTER ?? 'otlp')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '' && s !== 'none');
  const out: SpanExporter[] = [];
  const { otlp, trace } = sdk();
  for (const name of new Set(names)) {
    if (name === 'otlp') {
      const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL;
      if (protocol !== undefined && protocol !== 'http/json') {
        logger.warn({ event: 'tracing_protocol_unsupported', protocol }, 'only OTLP http/json is built in; exporting traces as http/json');
      }
      out.push(new otlp.OTLPTraceExporter());
    } else if (name === 'console') {
      out.push(new trace.ConsoleSpanExporter());
    } else {
      logger.warn({ event: 'tracing_exporter_unsupported', exporter: name }, 'unsupported OTEL_TRACES_EXPORTER value ignored');
    }
  }
  return out;
}

/** Export failures would otherwise vanish: the OTel API's diagnostics are silent by default. */
function routeDiagToLogger(logger: Logger): void {
  const warn = (message: string, ...args: unknown[]): void => logger.warn({ event: 'tracing_diagnostic', otel: args.map(String) }, message);
  const silent = (): void => {};
  diag.setLogger({ error: warn, warn, info: silent, debug: silent, verbose: silent }, DiagLogLevel.WARN);
}
