import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SimServer } from '../../src/sim/index.js';
import { eventually, startSims } from '../helpers/harness.js';
import { lastEnded, postJson, startGovernedGateway, type GovernedGateway } from './helpers.js';

describe('tokenize, detokenize, rerank and score pass through the pipeline', () => {
  let vllm: SimServer;
  let tgi: SimServer;
  let sglang: SimServer;
  let llamacpp: SimServer;
  let g: GovernedGateway;
  let all: string;
  let admin: string;

  before(async () => {
    vllm = (await startSims(1, { model: 'bge-reranker' }))[0]!;
    tgi = (await startSims(1, { model: 'bge-reranker', personality: 'tgi' }))[0]!;
    sglang = (await startSims(1, { model: 'bge-reranker', personality: 'sglang' }))[0]!;
    llamacpp = (await startSims(1, { model: 'bge-reranker', personality: 'llamacpp' }))[0]!;
    g = await startGovernedGateway(
      [
        // A TGI backend first in a round-robin pool: it serves none of these families and must be skipped.
        { name: 'ranker', policy: 'round_robin', backends: [{ url: tgi.url, kind: 'tgi', model: 'bge-reranker' }, { url: vllm.url, model: 'bge-reranker' }] },
        { name: 'tgi-only', backends: [{ url: tgi.url, kind: 'tgi', model: 'bge-reranker' }] },
        { name: 'ranker-sglang', backends: [{ url: sglang.url, kind: 'sglang', model: 'bge-reranker' }] },
        { name: 'ranker-llamacpp', backends: [{ url: llamacpp.url, kind: 'llamacpp', model: 'bge-reranker' }] },
      ],
      { limits: [{ match: { subject: 'twice' }, rpm: 2 }] },
    );
    all = await g.token('models:*');
    admin = await g.token('admin');
  });
  after(async () => {
    await g.close();
    await Promise.all([vllm, tgi, sglang, llamacpp].map((s) => s.close()));
  });

  test('tokenizes and detokenizes on a backend that serves them, rewriting the model name, and spends no tokens', async () => {
    const tok = await postJson(`${g.gw.url}/tokenize`, all, { model: 'ranker', prompt: 'Hello tokenizer world', return_token_strs: true });
    assert.equal(tok.status, 200);
    const body = (await tok.json()) as { count: number; tokens: number[]; token_strs: string[]; max_model_len: number };
    assert.equal(body.count, body.tokens.length);
    assert.equal(body.token_strs.join(''), 'Hello tokenizer world');
    const sent = vllm.log.entries.filter((e) => e.path === '/tokenize').at(-1)!;
    assert.equal(JSON.parse(sent.rawBody).model, 'bge-reranker');
    const ctx = lastEnded(g, 'tokenize');
    assert.equal(ctx.backendId, vllm.url);
    assert.deepEqual([ctx.usage?.promptTokens, ctx.usage?.completionTokens], [0, 0]);

    const detok = await postJson(`${g.gw.url}/detokenize`, all, { model: 'ranker', tokens: body.tokens });
    assert.equal(detok.status, 200);
    assert.deepEqual(await detok.json(), { prompt: 'Hello tokenizer world' });
  });

  test('reranks on every rerank route with the documents ordered by relevance and usage counted', async () => {
    const documents = ['The capital of France is Paris.', 'vLLM is a fast inference engine for LLM serving.', 'Cats are small.'];
    for (const path of ['/rerank', '/v1/rerank', '/v2/rerank']) {
      const res = await postJson(`${g.gw.url}${path}`, all, { model: 'ranker', query: 'what is vLLM inference', documents, top_n: 2 });
      assert.equal(res.status, 200, path);
      const body = (await res.json()) as { results: Array<{ index: number; relevance_score: number; document: { text: string } }>; usage: { total_tokens: number } };
      assert.equal(body.results.length, 2);
      assert.equal(body.results[0]!.index, 1);
      assert.ok(body.results[0]!.relevance_score > body.results[1]!.relevance_score);
      const ctx = lastEnded(g, 'rerank');
      assert.equal(ctx.status, 200);
      assert.equal(ctx.usage?.source, 'backend');
      assert.equal(ctx.usage?.promptTokens, body.usage.total_tokens);
      assert.equal(ctx.backendId, vllm.url, 'the TGI backend is never tried');
    }
    assert.deepEqual(
      vllm.log.entries.filter((e) => e.path.includes('rerank')).map((e) => e.path).slice(-3),
      ['/v1/rerank', '/v1/rerank', '/v2/rerank'],
    );
    assert.equal(tgi.log.entries.filter((e) => e.path.includes('rerank')).length, 0);
  });

  test('Cohere v2 rerank calls reach SGLang and llama.cpp at /v1/rerank, the only rerank route those engines have', async () => {
    for (const [model, sim] of [
      ['ranker-sglang', sglang],
      ['ranker-llamacpp', llamacpp],
    ] as const) {
      for (const path of ['/rerank', '/v1/rerank', '/v2/rerank']) {
        const res = await postJson(`${g.gw.url}${path}`, all, { model, query: 'what is vLLM', documents: ['Cats are small.', 'vLLM serves LLMs.'] });
        assert.equal(res.status, 200, `${model} ${path}: ${await res.clone().text()}`);
        assert.equal(((await res.json()) as { results: Array<{ index: number }> }).results[0]!.index, 1);
        assert.equal(sim.log.entries.filter((e) => e.method === 'POST').at(-1)!.path, '/v1/rerank', `${model} ${path}`);
      }
    }
  });

  test('scores text pairs with OpenAI-style usage', async () => {
    const res = await postJson(`${g.gw.url}/v1/score`, all, { model: 'ranker', text_1: 'fast inference', text_2: ['fast inference engine', 'a cat'] });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { data: Array<{ score: number }>; usage: { prompt_tokens: number } };
    assert.ok(body.data[0]!.score > body.data[1]!.score);
    assert.equal(lastEnded(g, 'score').usage?.promptTokens, body.usage.prompt_tokens);
  });

  test('answers 400 naming the field when a request is malformed, and 400 when no backend of the model serves the family', async () => {
    const bad = await postJson(`${g.gw.url}/v1/rerank`, all, { model: 'ranker', query: 'q' });
    assert.equal(bad.status, 400);
    const err = (await bad.json()) as { error: { param: string; code: string } };
    assert.equal(err.error.param, 'documents');
    const none = await postJson(`${g.gw.url}/v1/rerank`, all, { model: 'tgi-only', query: 'q', documents: ['d'] });
    assert.equal(none.status, 400);
    assert.match(((await none.json()) as { error: { message: string } }).error.message, /No backend of model "tgi-only" serves rerank/);
    // The refused requests never reached the backend the router had planned them for: nothing stays in flight there.
    for (let i = 0; i < 5; i++) assert.equal((await postJson(`${g.gw.url}/v1/rerank`, all, { model: 'tgi-only', query: 'q', documents: ['d'] })).status, 400);
    const metrics = await (await fetch(`${g.gw.url}/metrics`, { headers: { authorization: `Bearer ${admin}` } })).text();
    const inFlight = [...metrics.matchAll(/^infergate_backend_in_flight_requests\{[^}]*\} (\S+)$/gm)].map((m) => Number(m[1]));
    assert.ok(inFlight.length > 0, metrics.slice(0, 300));
    assert.deepEqual(inFlight.filter((n) => n !== 0), [], 'refused requests left phantom in-flight counts');
    const get = await fetch(`${g.gw.url}/v1/rerank`, { headers: { authorization: `Bearer ${all}` } });
    assert.equal(get.status, 405);
  });

  test("a family's body refused by validation still names its model in the usage row, as chat's does", async () => {
    const carol = await g.token('models:*', 'carol');
    const refused: Array<[string, Record<string, unknown>]> = [
      ['/v1/rerank', { model: 'ranker', query: 'q', documents: [] }],
      ['/score', { model: 'ranker', text_1: 5 }],
      ['/tokenize', { model: 'ranker' }],
      ['/v1/messages', { model: 'ranker', messages: [{ role: 'user', content: 'x' }] }],
      ['/v1/responses', { model: 'ranker', input: 5 }],
      ['/v1/chat/completions', { model: 'ranker', messages: [] }],
    ];
    for (const [path, body] of refused) assert.equal((await postJson(`${g.gw.url}${path}`, carol, body)).status, 400, path);
    const rows = await eventually(() => {
      const r = g.usageRows().filter((row) => row.subject === 'carol');
      return r.length >= refused.length ? r : undefined;
    });
    assert.deepEqual(rows!.map((r) => `${r.endpoint} ${r.status} ${r.requested_model}`).sort(), [
      'chat 400 ranker',
      'messages 400 ranker',
      'rerank 400 ranker',
      'responses 400 ranker',
      'score 400 ranker',
      'tokenize 400 ranker',
    ]);
  });

  test('applies scopes per family, rate limits and writes a usage row for every outcome', async () => {
    assert.equal((await postJson(`${g.gw.url}/v1/rerank`, null, { model: 'ranker', query: 'q', documents: ['d'] })).status, 401);
    const rerankOnly = await g.token('models:ranker:rerank', 'bob');
    assert.equal((await postJson(`${g.gw.url}/v1/rerank`, rerankOnly, { model: 'ranker', query: 'q', documents: ['d'] })).status, 200);
    const denied = await postJson(`${g.gw.url}/v1/score`, rerankOnly, { model: 'ranker', text_1: 'a', text_2: 'b' });
    assert.equal(denied.status, 403);
    assert.match(((await denied.json()) as { error: { message: string } }).error.message, /for score/);
    assert.equal((await postJson(`${g.gw.url}/tokenize`, rerankOnly, { model: 'ranker', prompt: 'x' })).status, 403);

    const twice = await g.token('models:*', 'twice');
    for (let i = 0; i < 2; i++) assert.equal((await postJson(`${g.gw.url}/score`, twice, { model: 'ranker', text_1: 'a', text_2: 'b' })).status, 200);
    const limited = await postJson(`${g.gw.url}/score`, twice, { model: 'ranker', text_1: 'a', text_2: 'b' });
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('x-ratelimit-limit-requests'), '2');

    const rows = await eventually(() => {
      const r = g.usageRows().filter((row) => row.subject === 'bob' || row.subject === 'twice');
      return r.length >= 6 ? r : undefined;
    });
    const summary = rows!.map((r) => `${r.subject} ${r.endpoint} ${r.status}`).sort();
    assert.deepEqual(summary, ['bob rerank 200', 'bob score 403', 'bob tokenize 403', 'twice score 200', 'twice score 200', 'twice score 429']);

    const metrics = await (await fetch(`${g.gw.url}/metrics`, { headers: { authorization: `Bearer ${await g.token('admin')}` } })).text();
    for (const endpoint of ['rerank', 'score', 'tokenize']) {
      assert.match(metrics, new RegExp(`infergate_requests_total\\{[^}]*endpoint="${endpoint}"`), `metrics for ${endpoint}`);
    }
  });
});
