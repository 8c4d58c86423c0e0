import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { Gateway } from '../../src/server/index.js';
import { parseConfigText } from '../../src/config/index.js';
import { configYaml, eventually, startTestGateway } from '../helpers/harness.js';

/**
 * Credentials in a backend's URL (a Basic-auth proxy in front of an engine) are sent as HTTP Basic on every request
 * and every health probe and metrics scrape, as curl would send them; they used to be dropped without a word.
 */
let server: Server;
let gw: Gateway;
const seen = new Map<string, IncomingHttpHeaders>();

before(async () => {
  server = createServer((req, res) => {
    seen.set(`${req.method} ${req.url}`, req.headers);
    req.resume();
    req.on('end', () => {
      if (req.url === '/health') return void res.writeHead(200).end('ok');
      if (req.url === '/metrics') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('# nothing\n');
      const body = JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  gw = await startTestGateway([{ name: 'm', backends: [{ url: `http://svc:p%40ss@127.0.0.1:${port}` }] }], {
    sections: { routing: { health: { probe_interval: '50ms' }, scrape: { interval: '50ms' } } },
  });
});
after(async () => {
  await gw?.close(100);
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

const BASIC = `Basic ${Buffer.from('svc:p@ss').toString('base64')}`;

test('requests, probes and scrapes carry the URL credentials as Basic authorization', async () => {
  const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }] }) });
  assert.equal(res.status, 200, await res.text());
  assert.equal(seen.get('POST /v1/chat/completions')?.authorization, BASIC);
  await eventually(() => seen.has('GET /health') && seen.has('GET /metrics'));
  assert.equal(seen.get('GET /health')?.authorization, BASIC);
  assert.equal(seen.get('GET /metrics')?.authorization, BASIC);
});

test('a URL with credentials and an api_key as well is refused at load', () => {
  assert.throws(
    () => parseConfigText(configYaml([{ name: 'm', backends: [{ url: 'http://u:p@127.0.0.1:1', api_key: 'k' } as never] }]), '(test)'),
    /models\[0\]\.backends\[0\]\.url.*HTTP Basic/s,
  );
});

test('credentials that are not valid percent-encoding are refused at load, not when the gateway starts', () => {
  for (const url of ['http://us%zzer:pw@127.0.0.1:1', 'http://user:p%@127.0.0.1:1']) {
    assert.throws(() => parseConfigText(configYaml([{ name: 'm', backends: [{ url }] }]), '(test)'), /models\[0\]\.backends\[0\]\.url.*percent-encoding/s, url);
  }
  assert.doesNotThrow(() => parseConfigText(configYaml([{ name: 'm', backends: [{ url: 'http://user:p%25@127.0.0.1:1' }] }]), '(test)'));
});
