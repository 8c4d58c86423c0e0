import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createManualClock } from '../../src/core/index.js';
import { createTelemetry, tracingWantedByEnv } from '../../src/telemetry/index.js';
import type { Telemetry } from '../../src/telemetry/index.js';
import { createSink, newCtx } from './fixtures.js';
import type { ManualClock } from './fixtures.js';

const CLIENT_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN_ID = '00f067aa0ba902b7';

function setup(tracing: boolean | 'auto' = 'auto') {
  const clock = createManualClock(10_000);
  const exporter = new InMemorySpanExporter();
  const telemetry: Telemetry = createTelemetry({
    tracing,
    spanExporter: exporter,
    metrics: false,
    clock,
    log: { destination: createSink().stream },
  });
  return { telemetry, clock, exporter };
}

function byName(spans: ReadableSpan[], name: string): ReadableSpan {
  const s = spans.find((x) => x.name === name);
  assert.ok(s, `no span named ${name} in ${spans.map((x) => x.name).join(', ')}`);
  return s;
}

const hrMs = (hr: [number, number]): number => hr[0] * 1000 + hr[1] / 1e6;

/** A chat request: routing takes 1 ms, then one attempt per entry in `attempts` (error type or null for success). */
function runChat(t: Telemetry, clock: ManualClock, attempts: (string | null)[], fields: Parameters<typeof newCtx>[1] = {}) {
  const ctx = newCtx(clock, { endpoint: 'chat', requestedModel: 'llama', stream: true, ...fields });
  const span = t.startRequest(ctx);
  assert.ok(span);
  span.setMaxTokens(256);
  const routing = span.startRouting();
  clock.advance(1);
  routing.end('http://10.0.0.5:8000', 2);
  const traceparents: string[] = [];
  attempts.forEach((err, i) => {
    ctx.attempts = i + 1;
    const backend = i === 0 ? 'http://10.0.0.5:8000' : 'http://10.0.0.6:8001';
    const attempt = span.startAttempt(backend, i + 1, 'meta-llama/Llama-3-8B');
    traceparents.push(t.traceparentFor(ctx, attempt) ?? '');
    clock.advance(5);
    if (err === null) {
      attempt.firstByte();
      ctx.firstByteMs = clock.now();
      ctx.backendId = backend;
      clock.advance(100);
      attempt.end(null, 200);
    } else {
      attempt.end(err, err.startsWith('status') ? 503 : null);
    }
  });
  ctx.upstreamModel = 'meta-llama/Llama-3-8B';
  ctx.usage = { promptTokens: 12, completionTokens: 40, cachedTokens: 8, source: 'backend' };
  clock.advance(1);
  ctx.endMs = clock.now();
  t.endRequest(ctx, span);
  return { ctx, span, traceparents };
}

test('a streamed request yields a server span with routing and attempt children and GenAI attributes', async () => {
  const { telemetry: t, clock, exporter } = setup();
  const { ctx, span, traceparents } = runChat(t, clock, [null]);
  const spans = exporter.getFinishedSpans();
  assert.equal(spans.length, 3);

  const root = byName(spans, 'chat llama');
  assert.equal(root.kind, SpanKind.SERVER);
  assert.equal(root.parentSpanContext, undefined);
  assert.equal(root.spanContext().traceId, span.traceId);
  assert.equal(hrMs(root.startTime), ctx.startWallMs);
  assert.equal(hrMs(root.duration), 107);
  assert.deepEqual(
    {
      op: root.attributes['gen_ai.operation.name'],
      provider: root.attributes['gen_ai.provider.name'],
      reqModel: root.attributes['gen_ai.request.model'],
      resModel: root.attributes['gen_ai.response.model'],
      input: root.attributes['gen_ai.usage.input_tokens'],
      output: root.attributes['gen_ai.usage.output_tokens'],
      cached: root.attributes['gen_ai.usage.cache_read.input_tokens'],
      maxTokens: root.attributes['gen_ai.request.max_tokens'],
      address: root.attributes['server.address'],
      port: root.attributes['server.port'],
      status: root.attributes['http.response.status_code'],
      error: root.attributes['error.type'],
      ttft: root.attributes['infergate.ttft_ms'],
    },
    {
      op: 'chat',
      provider: 'openai',
      reqModel: 'llama',
      resModel: 'meta-llama/Llama-3-8B',
      input: 12,
      output: 40,
      cached: 8,
      maxTokens: 256,
      address: '10.0.0.5',
      port: 8000,
      status: 200,
      error: undefined,
      ttft: 6,
    },
  );
  assert.equal(root.status.code, SpanStatusCode.UNSET);

  const routing = byName(spans, 'infergate.routing');
  assert.equal(routing.parentSpanContext?.spanId, root.spanContext().spanId);
  assert.equal(routing.attributes['infergate.backend'], 'http://10.0.0.5:8000');
  assert.equal(hrMs(routing.duration), 1);

  const attempt = byName(spans, 'chat meta-llama/Llama-3-8B');
  assert.equal(attempt.kind, SpanKind.CLIENT);
  assert.equal(attempt.parentSpanContext?.spanId, root.spanContext().spanId);
  assert.equal(attempt.attributes['server.port'], 8000);
  assert.equal(attempt.attributes['http.response.status_code'], 200);
  assert.deepEqual(attempt.events.map((e) => e.name), ['infergate.first_byte']);
  // The traceparent sent upstream names the attempt span, so the backend's spans nest under it.
  assert.equal(traceparents[0], `00-${span.traceId}-${attempt.spanContext().spanId}-01`);
  await t.shutdown();
});

test('a failed-over request has two attempt spans, the first marked with its error type', async () => {
  const { telemetry: t, clock, exporter } = setup();
  const { traceparents } = runChat(t, clock, ['connect', null]);
  const attempts = exporter
    .getFinishedSpans()
    .filter((s) => s.kind === SpanKind.CLIENT)
    .sort((a, b) => Number(a.attributes['infergate.attempt']) - Number(b.attributes['infergate.attempt']));
  assert.equal(attempts.length, 2);
  const [first, second] = attempts as [ReadableSpan, ReadableSpan];
  assert.equal(first.attributes['error.type'], 'connect');
  assert.equal(first.status.code, SpanStatusCode.ERROR);
  assert.equal(first.attributes['server.address'], '10.0.0.5');
  assert.equal(second.attributes['error.type'], undefined);
  assert.equal(second.attributes['server.address'], '10.0.0.6');
  assert.equal(second.attributes['server.port'], 8001);
  assert.notEqual(traceparents[0], traceparents[1]);
  const root = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER);
  assert.equal(root?.attributes['infergate.attempts'], 2);
  assert.equal(root?.attributes['server.address'], '10.0.0.6');
  await t.shutdown();
});

test("continues the client's trace and propagates its trace id upstream", async () => {
  const { telemetry: t, clock, exporter } = setup();
  const { span, traceparents } = runChat(t, clock, [null], {
    traceparent: `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01`,
    tracestate: 'vendor=abc',
  });
  assert.equal(span.traceId, CLIENT_TRACE_ID);
  const root = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER);
  assert.equal(root?.parentSpanContext?.spanId, CLIENT_SPAN_ID);
  assert.equal(root?.spanContext().traceState?.get('vendor'), 'abc');
  assert.match(traceparents[0] ?? '', new RegExp(`^00-${CLIENT_TRACE_ID}-[0-9a-f]{16}-01$`));
  assert.ok(!(traceparents[0] ?? '').includes(CLIENT_SPAN_ID));
  await t.shutdown();
});

test('honours an unsampled client trace: no spans, but the trace id still goes upstream', async () => {
  const { telemetry: t, clock, exporter } = setup();
  const { traceparents } = runChat(t, clock, [null], { traceparent: `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-00` });
  assert.equal(exporter.getFinishedSpans().length, 0);
  assert.match(traceparents[0] ?? '', new RegExp(`^00-${CLIENT_TRACE_ID}-[0-9a-f]{16}-00$`));
  await t.shutdown();
});

test('ignores a malformed client traceparent and starts a new trace', async () => {
  const { telemetry: t, clock, exporter } = setup();
  const { span } = runChat(t, clock, [null], { traceparent: 'garbage' });
  assert.match(span.traceId, /^[0-9a-f]{32}$/);
  assert.equal(exporter.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER)?.parentSpanContext, undefined);
  await t.shutdown();
});

test('marks the request span as an error for 5xx but not for client errors', async () => {
  const { telemetry: t, clock, exporter } = setup();
  for (const [status, errorCode] of [[502, 'upstream_error'], [404, 'model_not_found']] as const) {
    const ctx = newCtx(clock, { endpoint: 'chat', requestedModel: 'm', status, errorCode, outcome: status === 502 ? 'upstream_error' : 'client_error' });
    const span = t.startRequest(ctx);
    ctx.endMs = clock.now();
    t.endRequest(ctx, span);
  }
  const [bad, notFound] = exporter.getFinishedSpans();
  assert.equal(bad?.status.code, SpanStatusCode.ERROR);
  assert.equal(bad?.attributes['error.type'], 'upstream_error');
  assert.equal(notFound?.status.code, SpanStatusCode.UNSET);
  assert.equal(notFound?.attributes['error.type'], 'model_not_found');
  await t.shutdown();
});

test('with tracing off there is no span, and the client traceparent passes through unchanged', async () => {
  const { telemetry: t, clock, exporter } = setup(false);
  assert.equal(t.tracingEnabled, false);
  const ctx = newCtx(clock, { endpoint: 'chat', traceparent: `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01` });
  const span = t.startRequest(ctx);
  assert.equal(span, null);
  assert.equal(t.traceparentFor(ctx, null), ctx.traceparent);
  assert.equal(t.traceparentFor(newCtx(clock), null), null);
  t.endRequest(ctx, span);
  assert.equal(exporter.getFinishedSpans().length, 0);
  await t.shutdown();
});

test("'auto' turns tracing on only when the OTEL_* variables ask for it", () => {
  assert.equal(tracingWantedByEnv({}), false);
  assert.equal(tracingWantedByEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), true);
  assert.equal(tracingWantedByEnv({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }), true);
  assert.equal(tracingWantedByEnv({ OTEL_TRACES_EXPORTER: 'console' }), true);
  assert.equal(tracingWantedByEnv({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), false);
  assert.equal(tracingWantedByEnv({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), false);
});
