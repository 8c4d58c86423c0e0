import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createManualClock } from '../../src/core/index.js';
import type { RequestCtx } from '../../src/core/index.js';
import { METRIC, createTelemetry } from '../../src/telemetry/index.js';
import type { Telemetry, TelemetryOptions } from '../../src/telemetry/index.js';
import { createSink, newCtx, parseSamples, valueOf } from './fixtures.js';
import type { ManualClock } from './fixtures.js';

function setup(extra: TelemetryOptions = {}): { telemetry: Telemetry; clock: ManualClock } {
  const clock = createManualClock(1000);
  const telemetry = createTelemetry({
    tracing: false,
    processMetrics: false,
    clock,
    log: { destination: createSink().stream },
    ...extra,
  });
  return { telemetry, clock };
}

/** Runs one request on the manual clock: first byte after `ttftMs`, end after `totalMs`. */
function finish(t: Telemetry, clock: ManualClock, fields: Partial<RequestCtx>, ttftMs: number | null, totalMs: number): void {
  const ctx = newCtx(clock, { endpoint: 'chat', requestedModel: 'llama', upstreamModel: 'llama-3-8b', ...fields });
  if (ttftMs !== null) ctx.firstByteMs = ctx.startMs + ttftMs;
  ctx.endMs = ctx.startMs + totalMs;
  t.endRequest(ctx, null);
}

const streamed = (completionTokens: number): Partial<RequestCtx> => ({
  stream: true,
  usage: { promptTokens: 50, completionTokens, cachedTokens: 0, source: 'backend' },
});

test('counts requests by model, endpoint, status class and outcome', async () => {
  const { telemetry: t, clock } = setup();
  for (let i = 0; i < 3; i++) finish(t, clock, streamed(10), 20, 100);
  finish(t, clock, { endpoint: 'embeddings', requestedModel: 'embed' }, null, 5);
  finish(t, clock, { status: 502, errorCode: 'upstream_error', outcome: 'upstream_error' }, null, 50);
  finish(t, clock, { stream: true, outcome: 'client_abort' }, 10, 30);
  finish(t, clock, { endpoint: null, requestedModel: null, status: 401, errorCode: 'unauthorized', outcome: 'unauthorized' }, null, 1);

  const s = parseSamples((await t.renderMetrics()).body);
  const req = (labels: Record<string, string>) => valueOf(s, METRIC.requests, labels);
  assert.equal(req({ model: 'llama', endpoint: 'chat', status_class: '2xx', outcome: 'success' }), 3);
  assert.equal(req({ model: 'embed', endpoint: 'embeddings', status_class: '2xx', outcome: 'success' }), 1);
  assert.equal(req({ model: 'llama', endpoint: 'chat', status_class: '5xx', outcome: 'upstream_error' }), 1);
  assert.equal(req({ model: 'llama', endpoint: 'chat', status_class: '2xx', outcome: 'client_abort' }), 1);
  assert.equal(req({ model: '_none', endpoint: '_none', status_class: '4xx', outcome: 'unauthorized' }), 1);
  // The failed request lands in the duration histogram under its error type, the successes under none.
  const count = (labels: Record<string, string>) => valueOf(s, `${METRIC.requestDuration}_count`, labels);
  assert.equal(count({ gen_ai_operation_name: 'chat', gen_ai_request_model: 'llama', error_type: '' }), 3);
  assert.equal(count({ gen_ai_operation_name: 'chat', error_type: 'upstream_error' }), 1);
  assert.equal(count({ gen_ai_operation_name: 'chat', error_type: 'client_abort' }), 1);
  assert.equal(count({ gen_ai_operation_name: 'embeddings', gen_ai_request_model: 'embed' }), 1);
});

test('fills duration, TTFT, TPOT and token histograms with the GenAI bucket boundaries', async () => {
  const { telemetry: t, clock } = setup();
  // TTFT 30 ms; 118 output tokens over the remaining 1170 ms is 10 ms per token after the first.
  finish(t, clock, streamed(118), 30, 1200);
  const s = parseSamples((await t.renderMetrics()).body);
  const bucket = (name: string, le: string, extra: Record<string, string> = {}) =>
    valueOf(s, `${name}_bucket`, { gen_ai_request_model: 'llama', le, ...extra });

  assert.equal(bucket(METRIC.timeToFirstToken, '0.02'), 0);
  assert.equal(bucket(METRIC.timeToFirstToken, '0.04'), 1);
  assert.equal(bucket(METRIC.timeToFirstToken, '10'), 1);
  assert.equal(valueOf(s, `${METRIC.timeToFirstToken}_sum`), 0.03);

  assert.equal(bucket(METRIC.requestDuration, '0.64'), 0);
  assert.equal(bucket(METRIC.requestDuration, '1.28'), 1);
  assert.equal(bucket(METRIC.requestDuration, '81.92'), 1);

  assert.equal(bucket(METRIC.timePerOutputToken, '0.01'), 1);
  assert.equal(bucket(METRIC.timePerOutputToken, '2.5'), 1);

  assert.equal(bucket(METRIC.tokenUsage, '16', { gen_ai_token_type: 'input' }), 0);
  assert.equal(bucket(METRIC.tokenUsage, '64', { gen_ai_token_type: 'input' }), 1);
  assert.equal(bucket(METRIC.tokenUsage, '256', { gen_ai_token_type: 'output' }), 1);
  assert.equal(bucket(METRIC.tokenUsage, '67108864', { gen_ai_token_type: 'output' }), 1);
});

test('records no TTFT for non-streamed requests and no token usage for estimates', async () => {
  const { telemetry: t, clock } = setup();
  finish(t, clock, { stream: false, usage: { promptTokens: 5, completionTokens: 5, cachedTokens: 0, source: 'backend' } }, 80, 100);
  finish(t, clock, { stream: true, usage: { promptTokens: 9, completionTokens: 9, cachedTokens: 0, source: 'estimated' } }, 10, 100);
  const s = parseSamples((await t.renderMetrics()).body);
  assert.equal(valueOf(s, `${METRIC.timeToFirstToken}_count`), 1);
  assert.equal(valueOf(s, `${METRIC.tokenUsage}_sum`, { gen_ai_token_type: 'input' }), 5);
});

test('keeps the model label bounded however many model names clients send', async () => {
  const { telemetry: t, clock } = setup({ maxModelLabels: 3 });
  for (let i = 0; i < 50; i++) finish(t, clock, { requestedModel: `made-up-${i}`, status: 400, errorCode: 'invalid_request', outcome: 'client_error' }, null, 1);
  finish(t, clock, { requestedModel: 'nope', status: 404, errorCode: 'model_not_found', outcome: 'client_error' }, null, 1);
  const s = parseSamples((await t.renderMetrics()).body);
  const models = new Set(s.filter((x) => x.name === METRIC.requests).map((x) => x.labels.model));
  assert.deepEqual([...models].sort(), ['_other', '_unknown', 'made-up-0', 'made-up-1', 'made-up-2']);
  assert.equal(valueOf(s, METRIC.requests, { model: '_other' }), 47);
});

test('uses exact model labels for configured models once they are known', async () => {
  const { telemetry: t, clock } = setup({ maxModelLabels: 1 });
  t.setKnownModels(['llama', 'qwen']);
  finish(t, clock, { requestedModel: 'qwen' }, null, 1);
  finish(t, clock, { requestedModel: 'llama' }, null, 1);
  finish(t, clock, { requestedModel: 'gpt-9' }, null, 1);
  const s = parseSamples((await t.renderMetrics()).body);
  assert.equal(valueOf(s, METRIC.requests, { model: 'qwen' }), 1);
  assert.equal(valueOf(s, METRIC.requests, { model: 'llama' }), 1);
  assert.equal(valueOf(s, METRIC.requests, { model: '_other' }), 1);
});

test('counts retries, fallbacks, rate-limit rejections and config reloads, starting from zero', async () => {
  const { telemetry: t } = setup();
  let s = parseSamples((await t.renderMetrics()).body);
  assert.equal(valueOf(s, METRIC.rateLimited, { kind: 'quota' }), 0);
  assert.equal(valueOf(s, METRIC.configReloads, { result: 'failure' }), 0);

  t.recordRetry('llama', 'connect');
  t.recordRetry('llama', 'connect');
  t.recordRetryDenied('llama');
  t.recordRetryDenied('gpt-9');
  t.recordFallback('llama', 'qwen');
  t.recordRateLimited('tokens');
  t.recordConfigReload(true);
  t.recordConfigReload(false);
  t.recordQueueWait(30);
  t.recordUsageBatch(64, 2);
  s = parseSamples((await t.renderMetrics()).body);
  assert.equal(valueOf(s, METRIC.retries, { model: 'llama', reason: 'connect' }), 2);
  assert.equal(valueOf(s, METRIC.retriesDenied, { model: 'llama' }), 1);
  assert.equal(valueOf(s, METRIC.retriesDenied, { model: 'gpt-9' }), 1);
  assert.equal(valueOf(s, METRIC.fallbacks, { from_model: 'llama', to_model: 'qwen' }), 1);
  assert.equal(valueOf(s, METRIC.rateLimited, { kind: 'tokens' }), 1);
  assert.equal(valueOf(s, METRIC.configReloads, { result: 'success' }), 1);
  assert.equal(valueOf(s, METRIC.configReloads, { result: 'failure' }), 1);
  assert.equal(valueOf(s, `${METRIC.queueWait}_bucket`, { le: '0.05' }), 1);
  assert.equal(valueOf(s, METRIC.usageRowsWritten), 64);
});

test('reads collector gauges at scrape time and skips a collector that throws', async () => {
  const { telemetry: t } = setup();
  let inFlight = 2;
  t.registerCollector('routing', () => [
    { name: 'infergate_backend_in_flight_requests', labels: { backend: 'http://a:8000' }, value: inFlight },
    { name: 'infergate_backend_in_flight_tokens', labels: { backend: 'http://a:8000', phase: 'decode' }, value: 512 },
    { name: 'infergate_backend_healthy', labels: { backend: 'http://a:8000' }, value: 1 },
  ]);
  const remove = t.registerCollector('broken', () => {
    throw new Error('boom');
  });
  t.registerCollector('usage', () => [{ name: 'infergate_usage_queue_length', value: 7 }]);

  let body = (await t.renderMetrics()).body;
  assert.match(body, /# TYPE infergate_backend_in_flight_requests gauge/);
  let s = parseSamples(body);
  assert.equal(valueOf(s, 'infergate_backend_in_flight_requests', { backend: 'http://a:8000' }), 2);
  assert.equal(valueOf(s, 'infergate_backend_in_flight_tokens', { phase: 'decode' }), 512);
  assert.equal(valueOf(s, 'infergate_usage_queue_length'), 7);

  inFlight = 5;
  remove();
  body = (await t.renderMetrics()).body;
  s = parseSamples(body);
  assert.equal(valueOf(s, 'infergate_backend_in_flight_requests'), 5);
});

test('skips collector samples that would clash with the registry or break the format', async () => {
  const { telemetry: t } = setup();
  t.registerCollector('bad', () => [
    { name: METRIC.requests, value: 1 },
    { name: 'bad name', value: 1 },
    { name: 'infergate_ok', labels: { 'bad-label': 'x' }, value: 1 },
    { name: 'infergate_ok', labels: { backend: 'quote"back\\slash' }, value: 3 },
  ]);
  const body = (await t.renderMetrics()).body;
  assert.ok(!body.includes('bad name'));
  assert.match(body, /^infergate_ok\{backend="quote\\"back\\\\slash"\} 3$/m);
  assert.equal(body.match(/^# TYPE infergate_requests_total/gm)?.length, 1);
});

test('renders nothing and records nothing when metrics are off', async () => {
  const { telemetry: t, clock } = setup({ metrics: false });
  finish(t, clock, streamed(5), 10, 20);
  t.recordRetry('llama', 'connect');
  t.registerCollector('x', () => [{ name: 'infergate_queue_depth', value: 1 }]);
  assert.equal((await t.renderMetrics()).body, '');
});

test('serves Prometheus text with process metrics by default', async () => {
  const t = createTelemetry({ tracing: false, log: { destination: createSink().stream } });
  const out = await t.renderMetrics();
  assert.match(out.contentType, /^text\/plain; version=0\.0\.4/);
  assert.match(out.body, /^process_resident_memory_bytes \d+/m);
  await t.shutdown();
});
