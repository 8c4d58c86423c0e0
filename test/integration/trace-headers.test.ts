import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { after, before, test } from 'node:test';
import type { Gateway } from '../../src/server/index.js';
import { startTestGateway } from '../helpers/harness.js';
import { startScriptedBackend, type ScriptedBackend } from '../helpers/scripted-backend.js';

// With tracing off the client's trace headers went to the backend as they came: any string, up to the header limit.
let backend: ScriptedBackend;
let gw: Gateway;
let seen: IncomingHttpHeaders[] = [];

before(async () => {
  backend = await startScriptedBackend((req, res) => {
    seen.push(req.headers);
    const body = JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  gw = await startTestGateway([{ name: 'm', backends: [{ url: backend.url }] }], { sections: { auth: 'none' } });
});
after(async () => {
  await gw.close(100);
  await backend.close();
});

async function forwarded(headers: Record<string, string>): Promise<IncomingHttpHeaders> {
  seen = [];
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }] }),
  });
  assert.equal(res.status, 200);
  await res.text();
  assert.equal(seen.length, 1);
  return seen[0]!;
}

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

test('a W3C traceparent and tracestate reach the backend', async () => {
  const h = await forwarded({ traceparent: VALID, tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7' });
  assert.equal(h.traceparent, VALID);
  assert.equal(h.tracestate, 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7');
});

test('trace headers that are not W3C trace context are not sent on', async () => {
  const bad = await forwarded({ traceparent: 'not-a-traceparent {"x":1}', tracestate: 'a=b' });
  assert.equal(bad.traceparent, undefined);
  assert.equal(bad.tracestate, undefined, 'a tracestate means nothing without its traceparent');
  const long = await forwarded({ traceparent: VALID, tracestate: `a=${'x'.repeat(20_000)}` });
  assert.equal(long.traceparent, VALID);
  assert.equal(long.tracestate, undefined);
  const zero = await forwarded({ traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' });
  assert.equal(zero.traceparent, undefined);
  // Version 00 is exactly four fields; a later version may append its own after the flags (W3C: keep it).
  assert.equal((await forwarded({ traceparent: `${VALID}-extra` })).traceparent, undefined);
  const future = `01${VALID.slice(2)}-extra`;
  assert.equal((await forwarded({ traceparent: future })).traceparent, future);
});
