import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { assertMatchesSpec, client, startSims, startTestGateway } from '../helpers/harness.js';

describe('completions, embeddings and models', () => {
  let sims: SimServer[];
  let floatOnly: SimServer;
  let gw: Gateway;

  before(async () => {
    sims = await startSims(1);
    floatOnly = (await startSims(1, { base64Embeddings: false, personality: 'tgi' }))[0]!;
    gw = await startTestGateway([
      { name: 'sim-llama-8b', backends: [{ url: sims[0]!.url }] },
      { name: 'embed', aliases: ['embed-latest'], backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] },
      { name: 'embed-floats', backends: [{ url: floatOnly!.url, kind: 'tgi', model: 'sim-llama-8b' }] },
    ]);
  });
  after(async () => {
    await gw.close(100);
    await Promise.all([...sims, floatOnly].map((s) => s.close()));
  });

  test('answers legacy completions, streamed and not', async () => {
    const res = await client(gw).completions.create({ model: 'sim-llama-8b', prompt: 'Once upon a time', max_tokens: 5 });
    assertMatchesSpec('CreateCompletionResponse', res);
    assert.equal(res.choices[0]?.finish_reason, 'length');
    assert.equal(res.usage?.completion_tokens, 5);
    const stream = await client(gw).completions.create({ model: 'sim-llama-8b', prompt: 'Once', stream: true });
    let text = '';
    for await (const chunk of stream) {
      // The spec has no schema for streamed completions; OpenAI's own chunks carry finish_reason null until the end.
      assertMatchesSpec('CreateCompletionResponse', { ...chunk, choices: chunk.choices.map((c) => ({ ...c, finish_reason: c.finish_reason ?? 'stop' })) });
      text += chunk.choices[0]?.text ?? '';
    }
    assert.ok(text.length > 0);
  });

  test('echo puts the prompt back before the completion, streamed and not (the simulated vLLM honours it)', async () => {
    const plain = await client(gw).completions.create({ model: 'sim-llama-8b', prompt: 'Echo me', max_tokens: 3, seed: 7 });
    const echoed = await client(gw).completions.create({ model: 'sim-llama-8b', prompt: 'Echo me', max_tokens: 3, seed: 7, echo: true, logprobs: 1 });
    assertMatchesSpec('CreateCompletionResponse', echoed);
    assert.equal(echoed.choices[0]!.text, `Echo me${plain.choices[0]!.text}`);
    assert.equal(echoed.choices[0]!.logprobs!.text_offset![0], 'Echo me'.length, 'offsets count from the start of the echoed text');
    const stream = await client(gw).completions.create({ model: 'sim-llama-8b', prompt: ['A: ', 'B: '], max_tokens: 2, seed: 7, echo: true, stream: true });
    const texts = ['', ''];
    for await (const chunk of stream) for (const c of chunk.choices) texts[c.index] += c.text;
    assert.ok(texts[0]!.startsWith('A: ') && texts[0]!.length > 3, texts[0]);
    assert.ok(texts[1]!.startsWith('B: ') && texts[1]!.length > 3, texts[1]);
  });

  test('gives the SDK correct vectors with its default base64 encoding and with floats', async () => {
    const c = client(gw);
    const asFloat = await c.embeddings.create({ model: 'embed', input: ['alpha', 'beta'], encoding_format: 'float' });
    assertMatchesSpec('CreateEmbeddingResponse', asFloat);
    const viaDefault = await c.embeddings.create({ model: 'embed', input: ['alpha', 'beta'] });
    assert.equal(viaDefault.data.length, 2);
    for (let i = 0; i < 2; i++) {
      const a = asFloat.data[i]!.embedding;
      const b = viaDefault.data[i]!.embedding;
      assert.equal(a.length, b.length);
      a.forEach((v, j) => assert.ok(Math.abs(v - b[j]!) < 1e-6));
    }
  });

  test('converts floats to base64 at the gateway for backends that cannot encode', async () => {
    const c = client(gw);
    const reference = await c.embeddings.create({ model: 'embed', input: 'gamma', encoding_format: 'float' });
    const converted = await c.embeddings.create({ model: 'embed-floats', input: 'gamma' });
    const a = reference.data[0]!.embedding;
    const b = converted.data[0]!.embedding;
    assert.equal(b.length, a.length);
    a.forEach((v, j) => assert.ok(Math.abs(v - b[j]!) < 1e-6, `component ${j}`));
    const sent = floatOnly.log.entries.filter((e) => e.path.endsWith('/embeddings')).at(-1)!;
    assert.equal(JSON.parse(sent.rawBody).encoding_format, 'float');
  });

  test('lists and retrieves models', async () => {
    const c = client(gw);
    const list = await c.models.list();
    const ids = list.data.map((m) => m.id);
    assert.deepEqual(ids, ['sim-llama-8b', 'embed', 'embed-latest', 'embed-floats'], 'aliases are listed: they are names a client may call');
    const raw = await (await fetch(`${gw.url}/v1/models`)).json();
    assertMatchesSpec('ListModelsResponse', raw);
    const one = await c.models.retrieve('embed');
    assertMatchesSpec('Model', one);
    assert.equal(one.id, 'embed');
    await assert.rejects(c.models.retrieve('nope'), (e: { status?: number }) => e.status === 404);
    const alias = await c.models.retrieve('embed-latest');
    assertMatchesSpec('Model', alias);
    assert.equal(alias.id, 'embed-latest', 'a retrieve answers with the id asked for');
  });

  test('answers health and readiness probes', async () => {
    assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
    const ready = await fetch(`${gw.url}/readyz`);
    assert.equal(ready.status, 200);
  });
});
