import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/server/index.js';
import type { RequestCtx } from '../../src/core/index.js';
import OpenAI from 'openai';
import { startTestGateway } from '../helpers/harness.js';
import { chunk, completion, SSE_HEAD, startScriptedBackend, type Script, type ScriptedBackend } from '../helpers/scripted-backend.js';
import { rateLimited } from '../../src/limits/refusals.js';

/**
 * What a backend says it used, and how much it sends, is partly the caller's doing: a request can ask for an answer
 * too large to relay, and a broken or hostile backend can report any token count. Neither may let one caller take
 * backends out of rotation for everyone, nor lock a caller out, nor poison the usage log.
 */
const open: Array<{ close(): Promise<void> }> = [];
after(async () => {
  await Promise.all(open.map((o) => o.close()));
});

async function setup(scripts: Script[], server: Record<string, unknown>, sections: Record<string, unknown> = {}) {
  const backends: ScriptedBackend[] = [];
  for (const s of scripts) backends.push(await startScriptedBackend(s));
  const ended: RequestCtx[] = [];
  const gw: Gateway = await startTestGateway([{ name: 'm', backends: backends.map((b) => ({ url: b.url })), policy: 'round_robin', retries: 2 }], {
    server,
    sections: { routing: { scrape: { interval: 0 }, health: { probe_interval: 0, eject_after: 2 } }, ...sections },
    onRequestEnd: (ctx) => ended.push(ctx),
  });
  open.push({ close: () => gw.close(50) }, ...backends);
  return { gw, backends, ended };
}

const post = (gw: Gateway, body: unknown, path = '/v1/chat/completions') =>
  fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** A JSON answer of about `bytes`, as a request for many embeddings or logprobs gets. */
const bigAnswer =
  (bytes: number): Script =>
  (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[${'0.1,'.repeat(bytes / 4)}0.1]}],"model":"m","usage":{"prompt_tokens":3,"total_tokens":3}}`);
  };

describe('an answer the request made too large', () => {
  test('is refused once, not retried on every backend, leaves every backend in rotation, and is charged the prompt', async () => {
    const { gw, backends, ended } = await setup([bigAnswer(512 * 1024), bigAnswer(512 * 1024)], { response_limit: '256KiB' });
    for (let i = 0; i < 4; i++) {
      const res = await post(gw, { model: 'm', input: Array(50).fill('a') }, '/v1/embeddings');
      assert.equal(res.status, 502);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'upstream_response_too_large');
    }
    assert.equal(backends[0]!.hits + backends[1]!.hits, 4, 'each request reached one backend only');
    const ready = await fetch(`${gw.url}/readyz?model=m`);
    assert.equal(ready.status, 200, `the pool was ejected: ${await ready.text()}`);
    const last = ended.filter((c) => c.endpoint === 'embeddings').at(-1)!;
    assert.equal(last.usage?.source, 'estimated');
    assert.ok(last.usage!.promptTokens > 0, 'the prompt the backend processed is charged');
  });

  test("is not retried by OpenAI's SDK either: its default two retries would make and charge the answer three times", async () => {
    const { gw, backends, ended } = await setup([bigAnswer(64 * 1024)], { response_limit: '16KiB' });
    const sdk = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'k', timeout: 10_000 }); // maxRetries: the default
    const err = await sdk.embeddings.create({ model: 'm', input: 'a', encoding_format: 'float' }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.InternalServerError, String(err));
    assert.equal(err.code, 'upstream_response_too_large');
    assert.equal(err.headers.get('x-should-retry'), 'false');
    assert.equal(backends[0]!.hits, 1, 'the SDK sent the request once');
    assert.equal(ended.filter((c) => c.endpoint === 'embeddings').length, 1);
  });

  test('a streamed event past max_event_size ends that stream without counting against the backend', async () => {
    const huge: Script = (_req, res) => {
      res.writeHead(200, SSE_HEAD);
      res.write(chunk('first'));
      res.end(`data: {"choices":[{"index":0,"delta":{"content":"${'x'.repeat(300 * 1024)}"}}]}\n\n`);
    };
    const { gw } = await setup([huge], { max_event_size: '64KiB' });
    for (let i = 0; i < 3; i++) {
      const res = await post(gw, { model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
      assert.match(await res.text(), /upstream_event_too_large/);
    }
    assert.equal((await fetch(`${gw.url}/readyz?model=m`)).status, 200);
  });
});

describe('token counts no engine could report', () => {
  for (const [name, usage] of [
    ['astronomical', '{"prompt_tokens":5,"completion_tokens":1e300,"total_tokens":1e300}'],
    ['negative', '{"prompt_tokens":-5,"completion_tokens":-1000000,"total_tokens":-1000005}'],
    ['fractional', '{"prompt_tokens":5.5,"completion_tokens":2,"total_tokens":7.5}'],
    ['past 2^31', '{"prompt_tokens":5,"completion_tokens":99999999999999,"total_tokens":99999999999999}'],
  ] as const) {
    test(`${name}: the gateway's estimate stands in, and the caller is not locked out`, async () => {
      let usageJson: string = usage;
      const backend: Script = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(completion('ok').replace(/"usage":\{[^}]*\}/, `"usage":${usageJson}`));
      };
      const { gw, ended } = await setup([backend], {}, { limits: [{ match: { subject: '*' }, tpm: 100_000 }] });
      const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 };
      const first = await post(gw, body);
      assert.equal(first.status, 200);
      await first.text();
      const u = ended.at(-1)!.usage!;
      assert.equal(u.source, 'estimated');
      assert.ok(Number.isSafeInteger(u.promptTokens) && u.promptTokens >= 0 && u.completionTokens >= 0 && u.completionTokens < 1000, JSON.stringify(u));
      usageJson = '{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}';
      const next = await post(gw, body);
      assert.equal(next.status, 200, await next.text());
      assert.equal(ended.at(-1)!.usage!.source, 'backend');
    });
  }
});

test('a refusal never states a wait as anything but whole seconds (and milliseconds), at most a day', () => {
  for (const wait of [1e300, Number.POSITIVE_INFINITY, Number.NaN, 3 * 86_400_000]) {
    const headers: Record<string, string> = {};
    rateLimited('over', wait, headers, 'tokens');
    assert.equal(headers['retry-after'], '86400');
    assert.equal(headers['retry-after-ms'], '86400000');
  }
  const headers: Record<string, string> = {};
  rateLimited('over', 1500.2, headers, 'tokens');
  assert.deepEqual([headers['retry-after'], headers['retry-after-ms']], ['2', '1501']);
});
