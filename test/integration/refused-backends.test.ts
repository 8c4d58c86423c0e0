import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import type { Gateway } from '../../src/server/index.js';
import { startTestGateway } from '../helpers/harness.js';
import { completion, startScriptedBackend, type ScriptedBackend } from '../helpers/scripted-backend.js';

/**
 * A backend that refused a connection is known to be down (nothing listens there); it is not tried again, even when
 * every backend of its model is out, until a probe answers or its ejection runs out.
 */
async function refusedUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

let gw: Gateway;
let fb: ScriptedBackend;

before(async () => {
  fb = await startScriptedBackend((_q, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(completion('from the fallback')));
  const [a, b, c] = [await refusedUrl(), await refusedUrl(), await refusedUrl()];
  gw = await startTestGateway(
    [
      { name: 'm', policy: 'round_robin', retries: 1, fallback: ['fb'], backends: [{ url: a, name: 'a' }, { url: b, name: 'b' }] },
      { name: 'alone', retries: 0, backends: [{ url: c, name: 'c' }] },
      { name: 'fb', backends: [{ url: fb.url }] },
    ],
    {
      sections: {
        routing: {
          scrape: { interval: 0 },
          // Probes too slow to mark anything down within the test, ejections too long to run out in it: what routing
          // knows is what the refused connections told it.
          health: { probe_interval: '60s', eject_base: '60s', eject_max: '60s' },
          // No retry at all: a request that must try a dead backend first cannot reach the fallback model.
          retry_budget: { ratio: 0, min_per_second: 0 },
        },
      },
    },
  );
});

after(async () => {
  await gw?.close(50);
  await fb?.close();
});

const post = (model: string) =>
  fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) });

describe('backends that refused connections', () => {
  test('are not tried again while ejected: the fallback model answers without spending a retry', async () => {
    // The first two requests find out (each refused once, its retry denied by the empty budget).
    assert.equal((await post('m')).status, 502);
    assert.equal((await post('m')).status, 502);
    for (let i = 0; i < 5; i++) {
      const res = await post('m');
      const text = await res.text();
      assert.equal(res.status, 200, `request ${i}: ${text}`);
      assert.match(text, /from the fallback/);
    }
    assert.equal(fb.hits, 5);
  });

  test('a model whose only backend refused answers 503 no_healthy_backend with Retry-After, not another refused 502', async () => {
    const first = await post('alone');
    assert.equal(first.status, 502);
    assert.equal(((await first.json()) as { error: { code: string } }).error.code, 'upstream_unreachable');
    const next = await post('alone');
    assert.equal(next.status, 503);
    assert.equal(((await next.json()) as { error: { code: string } }).error.code, 'no_healthy_backend');
    assert.ok(Number(next.headers.get('retry-after')) >= 1);
  });
});
