import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { startTestGateway, client, configYaml } from '../helpers/harness.js';
import { parseConfigText } from '../../src/config/index.js';
import { startScriptedBackend, chunk, SSE_HEAD, type ScriptedBackend } from '../helpers/scripted-backend.js';
import type { Gateway } from '../../src/server/index.js';

/**
 * Backends are internal addresses: what a client reads about a failed backend names it by its label (`name`, else
 * `<model>#<n>`), never by its URL, host or port, on every failure path (refused connection, status without a message,
 * a body that is not JSON, a stream that stalls).
 */
let gw: Gateway;
let scripted: ScriptedBackend;
let refusedUrl: string;

async function refusedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

before(async () => {
  refusedUrl = `http://127.0.0.1:${await refusedPort()}`;
  scripted = await startScriptedBackend((_req, res) => void res.writeHead(500).end());
  gw = await startTestGateway(
    [
      { name: 'down', retries: 1, backends: [{ url: refusedUrl }, { url: refusedUrl + '/v1', name: 'gpu-a100-2' }] },
      { name: 'broken', retries: 0, backends: [{ url: scripted.url }] },
    ],
    { server: { timeouts: { idle: '300ms' } }, sections: { routing: { health: { probe_interval: 0 } } } },
  );
});

after(async () => {
  await gw?.close();
  await scripted?.close();
});

function assertNoAddress(text: string): void {
  for (const url of [refusedUrl, scripted.url]) {
    const { host, port } = new URL(url);
    assert.ok(!text.includes(host), `the client saw the backend's host: ${text}`);
    assert.ok(!text.includes(`:${port}`), `the client saw the backend's port: ${text}`);
  }
}

test('a refused connection is reported by label', async () => {
  const err = await client(gw)
    .chat.completions.create({ model: 'down', messages: [{ role: 'user', content: 'hi' }] })
    .then(() => null, (e: unknown) => e as { status: number; message: string });
  assert.ok(err, 'the request failed');
  assertNoAddress(err.message);
  assert.match(err.message, /down#1|gpu-a100-2/);
});

test('a status without a message and a body that is not JSON are reported by label', async () => {
  scripted.setScript((_req, res) => void res.writeHead(500).end());
  let res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'broken', messages: [{ role: 'user', content: 'hi' }] }) });
  let text = await res.text();
  assert.equal(res.status, 500, text);
  assertNoAddress(text);
  assert.match(text, /broken#1/);

  scripted.setScript((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('not json'));
  res = await fetch(`${gw.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'broken', input: 'hi' }) });
  text = await res.text();
  assert.equal(res.status, 502, text);
  assertNoAddress(text);
  assert.match(text, /broken#1/);
});

test('a stream that stalls ends with an error event that names the label', async () => {
  scripted.setScript((_req, res) => {
    res.writeHead(200, SSE_HEAD);
    res.write(chunk('Hel'));
    // then nothing: the idle deadline ends the stream
  });
  const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'broken', stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
  const text = await res.text();
  assert.match(text, /server\.timeouts\.idle/);
  assertNoAddress(text);
  assert.match(text, /broken#1/);
});

test('two backends of a model labelled alike are refused at load: the label must say which one failed', () => {
  const cases: { url: string; name?: string }[][] = [
    [{ url: 'http://127.0.0.1:1', name: 'gpu-1' }, { url: 'http://127.0.0.1:2', name: 'gpu-1' }],
    [{ url: 'http://127.0.0.1:1' }, { url: 'http://127.0.0.1:2', name: 'm#1' }],
  ];
  for (const backends of cases) {
    assert.throws(() => parseConfigText(configYaml([{ name: 'm', backends }]), '(test)'), /models\[0\]\.backends\[1\]\.name.*labelled/s);
  }
  assert.doesNotThrow(() => parseConfigText(configYaml([{ name: 'm', backends: [{ url: 'http://127.0.0.1:1', name: 'm#2' }, { url: 'http://127.0.0.1:2', name: 'm#1' }] }]), '(test)'));
});
