import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/server/index.js';
import { client, startTestGateway } from '../helpers/harness.js';
import { chunk, completion, SSE_HEAD, startScriptedBackend, type ScriptedBackend } from '../helpers/scripted-backend.js';

/**
 * A backend that answers a streamed request with a plain JSON body (an engine or wrapper that ignores `stream`). The
 * SDKs read a stream's body as SSE only: relayed as it came, that body was a stream with no events, an empty answer
 * and no error.
 */
describe('a streamed request answered without a stream', () => {
  const open: Array<{ close(): Promise<void> }> = [];
  after(() => Promise.all(open.map((o) => o.close())));

  const jsonOnly = () => startScriptedBackend((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(completion('all at once')));
  const streaming = () =>
    startScriptedBackend((_req, res) => {
      res.writeHead(200, SSE_HEAD);
      res.end(chunk('stream', null) + chunk('ed', 'stop') + 'data: [DONE]\n\n');
    });

  async function gateway(backends: ScriptedBackend[], kind = 'vllm', retries = 0): Promise<Gateway> {
    const gw = await startTestGateway([{ name: 'm', backends: backends.map((b) => ({ url: b.url, kind })), policy: 'round_robin', retries }], {
      sections: { routing: { scrape: { interval: 0 }, health: { probe_interval: 0, eject_after: 1 } } },
    });
    open.push({ close: () => gw.close(50) }, ...backends);
    return gw;
  }

  test('is a 502 naming what came, never an empty stream, and counts against the backend', async () => {
    const gw = await gateway([await jsonOnly()]);
    const err = await (async () => {
      const stream = await client(gw).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
      for await (const _ of stream);
    })().catch((e: unknown) => e);
    assert.equal((err as { status?: number }).status, 502);
    assert.equal((err as { code?: string }).code, 'upstream_invalid_response');
    assert.match((err as Error).message, /answered a streamed request with HTTP 200 and "application\/json", not an event stream/);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(metrics, /infergate_backend_healthy\{[^}]*\} 0/);
  });

  test('is tried on another backend, which streams it', async () => {
    const gw = await gateway([await jsonOnly(), await streaming()], 'vllm', 1);
    const stream = await client(gw).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    assert.equal(text, 'streamed');
  });

  test('a translated Responses stream gets the 502 too, not a Response object its stream reader cannot see', async () => {
    const gw = await gateway([await jsonOnly()], 'sglang');
    const res = await fetch(`${gw.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', input: 'hi', stream: true }) });
    assert.equal(res.status, 502);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'upstream_invalid_response');
  });
});
