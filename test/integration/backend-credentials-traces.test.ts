import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Gateway } from '../../src/server/index.js';
import { createTelemetry } from '../../src/telemetry/index.js';
import { startTestGateway } from '../helpers/harness.js';

/** Credentials in a backend URL are a secret: the attempt span names the backend by its id, as every other record does. */
let server: Server;
let gw: Gateway;
const exporter = new InMemorySpanExporter();

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  gw = await startTestGateway([{ name: 'm', backends: [{ url: `http://svc:hunter2@127.0.0.1:${port}` }] }], {
    telemetry: createTelemetry({ tracing: true, spanExporter: exporter, processMetrics: false }),
  });
});
after(async () => {
  await gw?.close(100);
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

test('no span carries the password of a backend URL', async () => {
  const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }] }) });
  assert.equal(res.status, 200, await res.text());
  let spans = exporter.getFinishedSpans();
  for (let i = 0; i < 50 && !spans.some((s) => s.name.includes('attempt') || s.attributes['infergate.attempt'] !== undefined); i++) {
    await new Promise((r) => setTimeout(r, 20));
    spans = exporter.getFinishedSpans();
  }
  const attempt = spans.find((s) => s.attributes['infergate.attempt'] !== undefined);
  assert.ok(attempt, 'attempt span');
  const text = JSON.stringify(spans.map((s) => ({ name: s.name, attributes: s.attributes })));
  assert.doesNotMatch(text, /hunter2/);
  assert.match(String(attempt.attributes['infergate.backend']), /^http:\/\/127\.0\.0\.1:\d+$/);
});
