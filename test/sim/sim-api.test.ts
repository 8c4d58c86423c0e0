import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import type { SimOptions, SimServer } from '../../src/sim/index.js';
import { assertMatchesSpec } from '../helpers/openapi.js';
import { CHAT, chat, json, post, sim, sseData, sseJson } from './sim-helpers.js';

async function started(t: TestContext, options: SimOptions = {}): Promise<SimServer> {
  const s = await sim(options);
  t.after(() => s.close());
  return s;
}

type Choice = { index: number; finish_reason: string; message: { content: string | null; tool_calls?: { id: string; function: { name: string; arguments: string } }[] } };
type Delta = { role?: string; content?: string; tool_calls?: { index: number; id?: string; type?: string; function: { name?: string; arguments: string } }[] };
type StreamChoice = { index: number; delta: Delta; finish_reason: string | null };

const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' }, unit: { enum: ['c', 'f'] } } },
  },
};

describe('simulator chat completions', () => {
  test('answers a chat request with deterministic text and vLLM usage details', async (t) => {
    const s = await started(t);
    const a = await json(await post(s, CHAT, chat('Hello there')));
    const b = await json(await post(s, CHAT, chat('Hello there')));
    assertMatchesSpec('CreateChatCompletionResponse', a);
    const choice = (a['choices'] as Choice[])[0]!;
    assert.equal(choice.finish_reason, 'stop');
    assert.equal(choice.message.content, (b['choices'] as Choice[])[0]!.message.content);
    const usage = a['usage'] as { prompt_tokens: number; completion_tokens: number; total_tokens: number; prompt_tokens_details: { cached_tokens: number } };
    assert.equal(usage.completion_tokens, 16);
    assert.ok(usage.prompt_tokens > 0);
    assert.equal(usage.total_tokens, usage.prompt_tokens + 16);
    assert.equal(usage.prompt_tokens_details.cached_tokens, 0);
  });

  test('streams a role chunk, one chunk per token, a finish chunk and [DONE], with usage only when asked', async (t) => {
    const s = await started(t);
    const res = await post(s, CHAT, chat('Stream please', { stream: true, max_tokens: 5 }));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const text = await res.text();
    assert.equal(sseData(text).at(-1), '[DONE]');
    const chunks = sseJson(text);
    for (const c of chunks) assertMatchesSpec('CreateChatCompletionStreamResponse', c);
    const choices = chunks.map((c) => (c['choices'] as StreamChoice[])[0]!);
    assert.deepEqual(choices[0]!.delta, { role: 'assistant', content: '' });
    assert.equal(choices.filter((c) => c.delta.content).length, 5);
    assert.equal(choices.at(-1)!.finish_reason, 'length');
    assert.ok(chunks.every((c) => !('usage' in c)));

    const withUsage = sseJson(await (await post(s, CHAT, chat('Stream please', { stream: true, max_tokens: 5, stream_options: { include_usage: true } }))).text());
    const last = withUsage.at(-1)!;
    assertMatchesSpec('CreateChatCompletionStreamResponse', last);
    assert.deepEqual(last['choices'], []);
    assert.equal((last['usage'] as { completion_tokens: number }).completion_tokens, 5);

    const continuous = sseJson(await (await post(s, CHAT, chat('Stream please', { stream: true, max_tokens: 3, stream_options: { continuous_usage_stats: true } }))).text());
    const running = continuous.filter((c) => c['usage']).map((c) => (c['usage'] as { completion_tokens: number }).completion_tokens);
    assert.deepEqual(running.slice(-3), [1, 2, 3]);
  });

  test('rejects stream_options on a non-streaming request, as vLLM does', async (t) => {
    const s = await started(t);
    const res = await post(s, CHAT, chat('x', { stream_options: { include_usage: true } }));
    assert.equal(res.status, 400);
    const body = (await json(res))['error'] as { message: string; type: string; code: number };
    assert.match(body.message, /Stream options can only be defined when `stream=True`/);
    assert.equal(body.type, 'BadRequestError');
    assert.equal(body.code, 400);
  });

  test('honours max_tokens, max_completion_tokens, min_tokens, ignore_eos and stop', async (t) => {
    const s = await started(t);
    const tokens = async (extra: Record<string, unknown>): Promise<[number, string, string]> => {
      const b = await json(await post(s, CHAT, chat('count me', extra)));
      const c = (b['choices'] as Choice[])[0]!;
      return [(b['usage'] as { completion_tokens: number }).completion_tokens, c.finish_reason, c.message.content ?? ''];
    };
    assert.deepEqual((await tokens({ max_tokens: 3 })).slice(0, 2), [3, 'length']);
    assert.deepEqual((await tokens({ max_completion_tokens: 4 })).slice(0, 2), [4, 'length']);
    assert.deepEqual((await tokens({ min_tokens: 20 })).slice(0, 2), [20, 'stop']);
    assert.deepEqual((await tokens({ max_tokens: 40, ignore_eos: true })).slice(0, 2), [40, 'length']);
    const [, , full] = await tokens({});
    const word = full.split(' ')[2]!;
    const [, reason, cut] = await tokens({ stop: [word] });
    assert.equal(reason, 'stop');
    assert.ok(full.startsWith(cut) && !cut.includes(word), `${cut} / ${word}`);
  });

  test('returns n choices, each with its own index and text, streamed and not', async (t) => {
    const s = await started(t);
    const body = await json(await post(s, CHAT, chat('two please', { n: 2 })));
    const choices = body['choices'] as Choice[];
    assert.deepEqual(choices.map((c) => c.index), [0, 1]);
    assert.notEqual(choices[0]!.message.content, choices[1]!.message.content);
    assert.equal((body['usage'] as { completion_tokens: number }).completion_tokens, 32);
    const chunks = sseJson(await (await post(s, CHAT, chat('two please', { n: 2, stream: true }))).text());
    const finished = chunks.flatMap((c) => c['choices'] as StreamChoice[]).filter((c) => c.finish_reason);
    assert.deepEqual(finished.map((c) => c.index).sort(), [0, 1]);
  });

  test('reports logprobs with top alternatives', async (t) => {
    const s = await started(t);
    const body = await json(await post(s, CHAT, chat('probs', { logprobs: true, top_logprobs: 3, max_tokens: 4 })));
    assertMatchesSpec('CreateChatCompletionResponse', body);
    const lp = (body['choices'] as { logprobs: { content: { token: string; logprob: number; top_logprobs: { token: string }[] }[] } }[])[0]!.logprobs;
    assert.equal(lp.content.length, 4);
    for (const t of lp.content) {
      assert.equal(t.top_logprobs.length, 3);
      assert.equal(t.top_logprobs[0]!.token, t.token);
      assert.ok(t.logprob <= 0);
    }
    const chunks = sseJson(await (await post(s, CHAT, chat('probs', { logprobs: true, top_logprobs: 2, max_tokens: 4, stream: true }))).text());
    for (const c of chunks) assertMatchesSpec('CreateChatCompletionStreamResponse', c);
  });

  test('calls the tool named in the last user message, with arguments built from its schema', async (t) => {
    const s = await started(t);
    const body = await json(await post(s, CHAT, chat('What does get_weather say?', { tools: [WEATHER_TOOL] })));
    assertMatchesSpec('CreateChatCompletionResponse', body);
    const c = (body['choices'] as Choice[])[0]!;
    assert.equal(c.finish_reason, 'tool_calls');
    assert.equal(c.message.content, null);
    const call = c.message.tool_calls![0]!;
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'x', days: 1, unit: 'c' });

    const chunks = sseJson(await (await post(s, CHAT, chat('use get_weather', { tools: [WEATHER_TOOL], stream: true }))).text());
    const deltas = chunks.map((ch) => (ch['choices'] as StreamChoice[])[0]!);
    const calls = deltas.flatMap((d) => d.delta.tool_calls ?? []);
    assert.equal(calls[0]!.function.name, 'get_weather');
    assert.equal(calls[0]!.function.arguments, '');
    assert.ok(calls[0]!.id && calls[0]!.type === 'function');
    assert.deepEqual(JSON.parse(calls.map((x) => x.function.arguments).join('')), { city: 'x', days: 1, unit: 'c' });
    assert.equal(deltas.at(-1)!.finish_reason, 'tool_calls');
  });

  test('answers with text when tool_choice is none or auto finds no tool name, and calls when required', async (t) => {
    const s = await started(t);
    const reason = async (extra: Record<string, unknown>, content = 'plain question'): Promise<string> =>
      ((await json(await post(s, CHAT, chat(content, { tools: [WEATHER_TOOL], ...extra }))))['choices'] as Choice[])[0]!.finish_reason;
    assert.equal(await reason({}), 'stop');
    assert.equal(await reason({ tool_choice: 'none' }, 'get_weather'), 'stop');
    assert.equal(await reason({ tool_choice: 'required' }), 'tool_calls');
    assert.equal(await reason({ tool_choice: { type: 'function', function: { name: 'get_weather' } } }), 'tool_calls');
  });
});

describe('simulator completions, embeddings and the other endpoints', () => {
  test('answers legacy completions for a batch of prompts, with integer logprobs, streamed and not', async (t) => {
    const s = await started(t);
    const body = await json(await post(s, '/v1/completions', { model: 'sim-llama-8b', prompt: ['a b', 'c d'], n: 2, max_tokens: 3, logprobs: 2 }));
    assertMatchesSpec('CreateCompletionResponse', body);
    const choices = body['choices'] as { index: number; text: string; logprobs: { tokens: string[]; top_logprobs: object[] } }[];
    assert.deepEqual(choices.map((c) => c.index), [0, 1, 2, 3]);
    assert.equal(choices[0]!.logprobs.tokens.join(''), choices[0]!.text);
    assert.equal(Object.keys(choices[0]!.logprobs.top_logprobs[0]!).length, 2);
    const text = await (await post(s, '/v1/completions', { prompt: [1, 2, 3], stream: true, stream_options: { include_usage: true } })).text();
    const chunks = sseJson(text);
    // OpenAI's schema requires a string finish_reason even on stream chunks, where OpenAI and vLLM send null
    // until the last one; validate the rest of each chunk.
    for (const c of chunks) {
      const choices = (c['choices'] as Record<string, unknown>[]).map((ch) => ({ ...ch, finish_reason: ch['finish_reason'] ?? 'stop' }));
      assertMatchesSpec('CreateCompletionResponse', { ...c, choices });
    }
    assert.equal((chunks.at(-1)!['usage'] as { prompt_tokens: number }).prompt_tokens, 3);
  });

  test('returns deterministic unit vectors whose base64 form decodes to the float form', async (t) => {
    const s = await started(t);
    const floats = await json(await post(s, '/v1/embeddings', { model: 'sim-llama-8b', input: ['alpha', 'beta'] }));
    assertMatchesSpec('CreateEmbeddingResponse', floats);
    const data = floats['data'] as { index: number; embedding: number[] }[];
    assert.equal(data.length, 2);
    assert.equal(data[0]!.embedding.length, 32);
    assert.ok(Math.abs(Math.hypot(...data[0]!.embedding) - 1) < 1e-5);
    const b64 = await json(await post(s, '/v1/embeddings', { input: ['alpha', 'beta'], encoding_format: 'base64' }));
    const buf = Buffer.from((b64['data'] as { embedding: string }[])[0]!.embedding, 'base64');
    const decoded = Array.from({ length: buf.length / 4 }, (_, i) => buf.readFloatLE(i * 4));
    assert.deepEqual(decoded, data[0]!.embedding);
  });

  test('refuses base64 embeddings when the instance only has floats', async (t) => {
    const s = await started(t, { base64Embeddings: false });
    const res = await post(s, '/v1/embeddings', { input: 'x', encoding_format: 'base64' });
    assert.equal(res.status, 400);
    assert.equal(((await json(res))['error'] as { type: string }).type, 'BadRequestError');
  });

  test('lists its models, reports health, tokenizes and exposes its request log', async (t) => {
    const s = await started(t, { extraModels: ['other-model'] });
    const models = await json(await fetch(`${s.url}/v1/models`));
    assertMatchesSpec('ListModelsResponse', models);
    assert.deepEqual((models['data'] as { id: string; owned_by: string }[]).map((m) => [m.id, m.owned_by]), [
      ['sim-llama-8b', 'vllm'],
      ['other-model', 'vllm'],
    ]);
    assert.equal((await post(s, CHAT, { ...chat('x'), model: 'other-model' })).status, 200);
    const health = await fetch(`${s.url}/health`);
    assert.equal(health.status, 200);
    assert.equal(await health.text(), '');
    const tok = await json(await post(s, '/tokenize', { prompt: 'Hello, world' }));
    assert.equal(tok['count'], (tok['tokens'] as number[]).length);
    assert.equal(tok['max_model_len'], 32768);
    const remote = await json(await fetch(`${s.url}/sim/log`));
    const entries = remote['entries'] as { path: string; rawBody: string; finished: boolean }[];
    assert.ok(entries.some((e) => e.path === CHAT && e.rawBody.includes('other-model') && e.finished));
  });

  test('answers malformed JSON, missing messages and an over-long prompt with 400', async (t) => {
    const s = await started(t, { maxModelLen: 50 });
    assert.equal((await post(s, CHAT, '{"model":')).status, 400);
    const missing = await post(s, CHAT, { model: 'sim-llama-8b' });
    assert.equal(missing.status, 400);
    assert.equal(((await json(missing))['error'] as { param: string }).param, 'messages');
    const long = await post(s, CHAT, chat('word '.repeat(100)));
    assert.equal(long.status, 400);
    assert.match(((await json(long))['error'] as { message: string }).message, /maximum context length is 50/);
    assert.equal((await fetch(`${s.url}/nope`)).status, 404);
  });

  test('refuses mistyped or out-of-range sampling parameters with 400 naming the field, as vLLM does', async (t) => {
    const s = await started(t);
    const bad: Array<[string, unknown]> = [
      ['temperature', 'hot'],
      ['temperature', -0.5],
      ['top_p', 0],
      ['top_p', 1.5],
      ['top_k', 1.5],
      ['presence_penalty', 3],
      ['frequency_penalty', -2.5],
      ['repetition_penalty', 0],
      ['logit_bias', { '50256': 'ban' }],
      ['user', 42],
    ];
    for (const [field, value] of bad) {
      const res = await post(s, CHAT, chat('hi', { [field]: value }));
      assert.equal(res.status, 400, `${field}: ${JSON.stringify(value)}`);
      assert.equal(((await json(res))['error'] as { param: string }).param.split('.')[0], field);
    }
    const fine = await post(s, CHAT, chat('hi', { temperature: 0, top_p: 1, top_k: -1, presence_penalty: 2, repetition_penalty: 1.1, logit_bias: { '50256': -100 }, user: 'u1' }));
    assert.equal(fine.status, 200);
    await fine.text();
  });
});
