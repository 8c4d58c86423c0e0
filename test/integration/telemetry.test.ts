import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { createTelemetry } from '../../src/telemetry/index.js';
import { client, eventually, startSims, startTestGateway } from '../helpers/harness.js';

function metricValue(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

describe('metrics, traces and logs against real traffic', () => {
  let sims: SimServer[];
  let gw: Gateway;
  const exporter = new InMemorySpanExporter();
  const lines: string[] = [];

  before(async () => {
    sims = await startSims(1);
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    gw = await startTestGateway(
      [
        { name: 'llama', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] },
        // the dead backend first: the request fails over to the live one
        { name: 'flaky', backends: [{ url: 'http://127.0.0.1:1' }, { url: sims[0]!.url, model: 'sim-llama-8b' }], policy: 'round_robin', retries: 1 },
      ],
      { telemetry: createTelemetry({ tracing: true, spanExporter: exporter, log: { level: 'info', destination: sink }, processMetrics: false }) },
    );
  });
  after(async () => {
    await gw.close(100);
    await Promise.all(sims.map((s) => s.close()));
  });

  test('counts requests, tokens and time to first token on /metrics', async () => {
    const c = client(gw);
    for (let i = 0; i < 3; i++) await c.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: `m${i}` }] });
    const stream = await c.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'stream' }], stream: true });
    for await (const _ of stream) {
      // drain
    }
    await c.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }).catch(() => {});
    const res = await fetch(`${gw.url}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.equal(metricValue(text, 'infergate_requests_total', { model: 'llama', endpoint: 'chat', status_class: '2xx' }), 4);
    assert.equal(metricValue(text, 'infergate_requests_total', { status_class: '4xx' }), 1);
    assert.ok(metricValue(text, 'gen_ai_server_time_to_first_token_seconds_count', { gen_ai_request_model: 'llama' }) >= 1);
    assert.ok(metricValue(text, 'gen_ai_client_token_usage_sum', { gen_ai_token_type: 'input' }) > 0);
    assert.doesNotMatch(text, /subject=/);
  });

  test('traces a streamed request with GenAI attributes and propagates traceparent to the backend', async () => {
    exporter.reset();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'traced' }], stream: true, max_tokens: 4 }),
    });
    await res.text();
    const spans = await eventually(() => {
      const s = exporter.getFinishedSpans().filter((x) => x.spanContext().traceId === traceId);
      return s.length >= 3 ? s : undefined;
    }).then((s) => s!);
    const root = spans.find((s) => s.attributes['gen_ai.operation.name'] === 'chat' && !spans.some((p) => p.spanContext().spanId === s.parentSpanContext?.spanId))!;
    assert.ok(root, 'request span');
    assert.equal(root.attributes['gen_ai.request.model'], 'llama');
    assert.equal(root.attributes['gen_ai.response.model'], 'sim-llama-8b');
    assert.ok(Number(root.attributes['gen_ai.usage.output_tokens']) > 0);
    const attempt = spans.find((s) => s.attributes['server.address'] !== undefined && s !== root)!;
    assert.ok(attempt, 'attempt span');
    const entry = sims[0]!.log.entries.filter((e) => e.rawBody.includes('traced')).at(-1)!;
    assert.match(entry.headers.traceparent ?? '', new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  });

  test('records a failed-over request as two attempt spans, the first with error.type', async () => {
    exporter.reset();
    await client(gw).chat.completions.create({ model: 'flaky', messages: [{ role: 'user', content: 'failover' }] });
    const spans = exporter.getFinishedSpans();
    const attempts = spans.filter((s) => s.attributes['infergate.attempt'] !== undefined);
    assert.equal(attempts.length, 2);
    const failed = attempts.find((s) => s.attributes['error.type'] !== undefined);
    assert.ok(failed, 'one attempt failed');
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.ok(metricValue(metrics, 'infergate_retries_total', { model: 'flaky' }) >= 1);
  });

  test('writes one JSON log line per request with no prompt text', async () => {
    const secret = 'my very private prompt 12345';
    await client(gw).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: secret }] }, { headers: { 'x-request-id': 'log-check-1' } });
    const line = await eventually(() => lines.find((l) => l.includes('log-check-1')));
    const parsed = JSON.parse(line!);
    assert.equal(parsed.request_id, 'log-check-1');
    assert.equal(parsed.model, 'llama');
    assert.equal(parsed.status, 200);
    assert.ok(parsed.latency_ms >= 0);
    for (const l of lines) assert.ok(!l.includes(secret), 'prompt text never logged');
  });
});
