import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { assertMatchesSpec, client, startSims, startTestGateway } from '../helpers/harness.js';

async function post(gw: Gateway, path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  let json: { error?: { message: string; type: string; param: string | null; code: string | null } } = {};
  try {
    json = JSON.parse(text);
  } catch {
    assert.fail(`not JSON: ${text.slice(0, 200)}`);
  }
  assertMatchesSpec('ErrorResponse', json);
  return { status: res.status, error: json.error!, headers: res.headers };
}

describe('errors in OpenAI shape', () => {
  let sims: Record<string, SimServer>;
  let gw: Gateway;

  before(async () => {
    const [vllm, sglang, tgi, llamacpp] = await Promise.all(
      (['vllm', 'sglang', 'tgi', 'llamacpp'] as const).map((personality) => startSims(1, { personality }).then((s) => s[0]!)),
    );
    sims = { vllm: vllm!, sglang: sglang!, tgi: tgi!, llamacpp: llamacpp! };
    gw = await startTestGateway(
      [
        ...Object.entries(sims).map(([kind, s]) => ({ name: kind, backends: [{ url: s.url, kind, model: 'sim-llama-8b' }], retries: 0 })),
        { name: 'down', backends: [{ url: 'http://127.0.0.1:1' }], retries: 0 },
      ],
      { server: { body_limit: '64KiB', timeouts: { connect: '1s', first_byte: '2s', idle: '2s', total: '20s' } } },
    );
  });
  after(async () => {
    await gw.close(100);
    await Promise.all(Object.values(sims).map((s) => s.close()));
  });

  test('rejects malformed JSON with 400', async () => {
    const r = await post(gw, '/v1/chat/completions', '{"model": "vllm", "messages": [');
    assert.equal(r.status, 400);
    assert.equal(r.error.type, 'invalid_request_error');
    assert.match(r.error.message, /JSON/);
  });

  test('rejects an empty body and a non-object body with 400', async () => {
    assert.equal((await post(gw, '/v1/chat/completions', '')).status, 400);
    assert.equal((await post(gw, '/v1/chat/completions', '[1,2]')).status, 400);
  });

  test('names the missing or mistyped parameter', async () => {
    const missing = await post(gw, '/v1/chat/completions', '{"model":"vllm"}');
    assert.equal(missing.status, 400);
    assert.equal(missing.error.param, 'messages');
    const badRole = await post(gw, '/v1/chat/completions', '{"model":"vllm","messages":[{"content":"x"}]}');
    assert.equal(badRole.error.param, 'messages[0].role');
    const badStream = await post(gw, '/v1/chat/completions', '{"model":"vllm","messages":[{"role":"user","content":"x"}],"stream":"yes"}');
    assert.equal(badStream.error.param, 'stream');
    const noModel = await post(gw, '/v1/embeddings', '{"input":"x"}');
    assert.equal(noModel.error.param, 'model');
    const badInput = await post(gw, '/v1/embeddings', '{"model":"vllm","input":{"a":1}}');
    assert.equal(badInput.error.param, 'input');
  });

  test('answers 404 model_not_found for an unknown model, through the SDK too', async () => {
    const r = await post(gw, '/v1/chat/completions', '{"model":"gpt-nope","messages":[{"role":"user","content":"x"}]}');
    assert.equal(r.status, 404);
    assert.equal(r.error.code, 'model_not_found');
    await assert.rejects(client(gw).chat.completions.create({ model: 'gpt-nope', messages: [{ role: 'user', content: 'x' }] }), OpenAI.NotFoundError);
  });

  test('answers 413 for a body over the limit', async () => {
    const big = JSON.stringify({ model: 'vllm', messages: [{ role: 'user', content: 'x'.repeat(100_000) }] });
    const r = await post(gw, '/v1/chat/completions', big);
    assert.equal(r.status, 413);
  });

  test('answers 502 when the only backend is unreachable', async () => {
    const err = await client(gw)
      .chat.completions.create({ model: 'down', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.APIError);
    assert.equal(err.status, 502);
    assert.match(err.message, /connect/i);
  });

  test('answers 504 when the backend does not answer in time', async () => {
    const r = await post(gw, '/v1/chat/completions', JSON.stringify({ model: 'vllm', messages: [{ role: 'user', content: 'slow' }], stream: true, sim_fault: { stall_before_first_ms: 5000 } }));
    assert.equal(r.status, 504);
    assert.equal(r.error.type, 'server_error');
  });

  for (const kind of ['vllm', 'sglang', 'tgi', 'llamacpp']) {
    test(`normalises ${kind} error bodies to the envelope, keeping the backend's message, with OpenAI's status`, async () => {
      // TGI reports validation errors as 422; OpenAI (and so the SDK's BadRequestError) as 400
      const status = kind === 'tgi' ? 422 : 400;
      const r = await post(gw, '/v1/chat/completions', JSON.stringify({ model: kind, messages: [{ role: 'user', content: 'x' }], sim_fault: { status, message: `bad thing from ${kind}` } }));
      assert.equal(r.status, 400);
      assert.match(r.error.message, new RegExp(`bad thing from ${kind}`));
      assert.equal(typeof r.error.type, 'string');
    });
  }

  test('normalises a plain-text backend error and a 5xx', async () => {
    const text = await post(gw, '/v1/chat/completions', JSON.stringify({ model: 'vllm', messages: [{ role: 'user', content: 'x' }], sim_fault: { status: 500, message: 'text:engine exploded' } }));
    assert.equal(text.status, 500);
    assert.match(text.error.message, /engine exploded/);
    const tgi = await post(gw, '/v1/chat/completions', JSON.stringify({ model: 'tgi', messages: [{ role: 'user', content: 'x' }], sim_fault: { status: 424, message: 'generation failed' } }));
    assert.equal(tgi.status, 500);
    assert.equal(tgi.error.type, 'server_error');
    assert.match(tgi.error.message, /generation failed/);
  });

  test('shows the SDK the backend reason, not "status code (no body)"', async () => {
    const err = await client(gw)
      .chat.completions.create({ model: 'tgi', messages: [{ role: 'user', content: 'x' }], sim_fault: { status: 422, message: 'inputs too long' } } as never)
      .catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.BadRequestError);
    assert.match(err.message, /inputs too long/);
  });

  test("an engine's context overflow reaches the SDK with OpenAI's code context_length_exceeded", async () => {
    for (const model of Object.keys(sims)) {
      const err = await client(gw)
        .chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 500_000 })
        .then(() => assert.fail(`${model}: a request over the context was answered`), (e: unknown) => e);
      assert.ok(err instanceof OpenAI.APIError && err.status !== undefined && err.status >= 400 && err.status < 500, `${model}: ${String(err)}`);
      assert.equal(err.code, 'context_length_exceeded', `${model}: ${err.message}`);
      assert.equal(err.type, 'invalid_request_error');
    }
  });

  test('a compressed request body is refused with 415, an identity one is served', async () => {
    const { gzipSync } = await import('node:zlib');
    const json = JSON.stringify({ model: 'vllm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    const gz = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(json),
    });
    assert.equal(gz.status, 415);
    const err = (await gz.json()) as { error: { code: string; message: string } };
    assertMatchesSpec('ErrorResponse', err);
    assert.equal(err.error.code, 'unsupported_content_encoding');
    assert.match(err.error.message, /gzip/);
    for (const path of ['/v1/embeddings', '/v1/messages']) {
      const r = await fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'br' }, body: '{}' });
      assert.equal(r.status, 415, path);
      await r.text();
    }
    const plain = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'identity' }, body: json });
    assert.equal(plain.status, 200);
    await plain.text();
  });

  test('answers 405 for a wrong method and 404 for an unknown route', async () => {
    const m = await fetch(`${gw.url}/v1/chat/completions`);
    assert.equal(m.status, 405);
    assertMatchesSpec('ErrorResponse', await m.json());
    const n = await fetch(`${gw.url}/v2/nothing`);
    assert.equal(n.status, 404);
    assertMatchesSpec('ErrorResponse', await n.json());
  });
});
