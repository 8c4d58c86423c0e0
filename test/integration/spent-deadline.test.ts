import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/server/index.js';
import { startTestGateway } from '../helpers/harness.js';
import { completion, sleep, startScriptedBackend, type Script, type ScriptedBackend } from '../helpers/scripted-backend.js';

const open: Array<{ close(): Promise<void> }> = [];
after(async () => {
  await Promise.all(open.map((o) => o.close()));
});

/** Backends in round-robin order (the first request goes to the first), with fallback model `fb` on its own backend. */
async function setup(scripts: Script[], fallback: Script): Promise<{ gw: Gateway; backends: ScriptedBackend[]; fb: ScriptedBackend }> {
  const backends: ScriptedBackend[] = [];
  for (const s of scripts) backends.push(await startScriptedBackend(s));
  const fb = await startScriptedBackend(fallback);
  const gw = await startTestGateway(
    [
      { name: 'm', backends: backends.map((b, i) => ({ url: b.url, name: `b${i}` })), policy: 'round_robin', retries: 2, fallback: ['fb'] },
      { name: 'fb', backends: [{ url: fb.url, name: 'fb0' }] },
    ],
    {
      server: { timeouts: { request: '400ms', first_byte: '150ms', idle: '5s', total: '30s' } },
      // One charged failure ejects: a backend wrongly blamed shows at once in infergate_backend_ejections_total.
      sections: { routing: { scrape: { interval: 0 }, health: { probe_interval: 0, eject_after: 1 } } },
    },
  );
  open.push({ close: () => gw.close(50) }, ...backends, fb);
  return { gw, backends, fb };
}

function post(gw: Gateway): Promise<Response> {
  return fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
}

async function ejections(gw: Gateway, backend: ScriptedBackend): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`infergate_backend_ejections_total{backend="${backend.url}"}`));
  assert.ok(line, `no ejection count for ${backend.url}`);
  return Number(line.split(' ').pop());
}

const hang: Script = () => {};
const good: Script = (_q, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(completion('fine'));

describe("a request's own deadline, once spent, is not charged to the backends tried after", () => {
  test('a non-streamed request that spent timeouts.request on a hung backend is not sent on to others', async () => {
    const { gw, backends, fb } = await setup([hang, good], good);
    const res = await post(gw);
    assert.equal(res.status, 504);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'upstream_timeout');
    assert.match(body.error.message, /backend b0 .*timeouts\.request/);
    // Nothing was left of the deadline: neither the other backend nor the fallback model got a request it could only drop.
    assert.equal(backends[1]!.hits, 0, 'the healthy backend was sent a request with no time left');
    assert.equal(fb.hits, 0, 'the fallback model was sent a request with no time left');
    assert.equal(await ejections(gw, backends[0]!), 1, 'the hung backend is charged');
    assert.equal(await ejections(gw, backends[1]!), 0);
    assert.equal(await ejections(gw, fb), 0);
  });

  test('a backend given only what was left of the deadline, less than first_byte, is not charged when it runs out', async () => {
    // The first backend fails late (a 500 after 300 of the request's 400 ms); the second needs 200 ms, more than is left.
    const slowFail: Script = async (_q, res) => {
      await sleep(300);
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"boom"}}');
    };
    const slowGood: Script = async (_q, res) => {
      await sleep(200);
      if (!res.destroyed) good(_q, res, {});
    };
    const { gw, backends } = await setup([slowFail, slowGood], slowGood);
    const res = await post(gw);
    assert.equal(res.status, 504);
    assert.equal(backends[1]!.hits, 1, 'the retry had time left and was sent');
    assert.equal(await ejections(gw, backends[0]!), 1, 'the backend that answered 500 is charged');
    assert.equal(await ejections(gw, backends[1]!), 0, 'a backend given 100 ms of a spent deadline is not a broken one');
  });
});
