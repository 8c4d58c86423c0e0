import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createManualClock } from '../../src/core/index.js';
import { createTelemetry } from '../../src/telemetry/index.js';
import { createSink, newCtx } from './fixtures.js';

test('exports spans over OTLP/HTTP to the endpoint named by the standard environment variables', async () => {
  const bodies: { path: string; body: string }[] = [];
  const collector = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push({ path: req.url ?? '', body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  const { port } = collector.address() as AddressInfo;
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${port}`;
  try {
    const clock = createManualClock(0);
    const t = createTelemetry({ metrics: false, clock, serviceName: 'infergate-test', log: { destination: createSink().stream } });
    assert.equal(t.tracingEnabled, true);
    const ctx = newCtx(clock, { endpoint: 'embeddings', requestedModel: 'embed-small' });
    const span = t.startRequest(ctx);
    clock.advance(3);
    ctx.endMs = clock.now();
    t.endRequest(ctx, span);
    await t.shutdown();

    assert.equal(bodies.length, 1);
    assert.equal(bodies[0]?.path, '/v1/traces');
    const body = bodies[0]?.body ?? '';
    assert.match(body, /"name":"embeddings embed-small"/);
    assert.match(body, /"infergate-test"/);
    assert.ok(body.includes(span?.traceId ?? 'missing'));
  } finally {
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    collector.close();
  }
});
