import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test, type TestContext } from 'node:test';
import { createSimpleEngine, startSim, startSimFleet, type Personality, type SimOptions, type SimServer } from '../../src/sim/index.js';
import { assertMatchesSpec } from '../helpers/openapi.js';
import { CHAT, chat, json, post, sim, sseData, sseJson } from './sim-helpers.js';

async function started(t: TestContext, options: SimOptions = {}): Promise<SimServer> {
  const s = await sim(options);
  t.after(() => s.close());
  return s;
}

const ERROR_SHAPES: Record<Personality, { notFound: [number, unknown]; invalid: [number, unknown] }> = {
  vllm: {
    notFound: [404, { error: { message: 'The model `nope` does not exist.', type: 'NotFoundError', param: 'model', code: 404 } }],
    invalid: [400, { error: { message: 'messages: Too small: expected array to have >=1 items', type: 'BadRequestError', param: 'messages', code: 400 } }],
  },
  sglang: {
    notFound: [404, { object: 'error', message: 'The model `nope` does not exist.', type: 'NotFoundError', param: 'model', code: 404 }],
    invalid: [400, { object: 'error', message: 'messages: Too small: expected array to have >=1 items', type: 'BadRequestError', param: 'messages', code: 400 }],
  },
  tgi: {
    notFound: [404, { error: 'The model `nope` does not exist.', error_type: 'not_found' }],
    invalid: [422, { error: 'messages: Too small: expected array to have >=1 items', error_type: 'validation' }],
  },
  llamacpp: {
    notFound: [404, { error: { code: 404, message: 'The model `nope` does not exist.', type: 'not_found_error' } }],
    invalid: [400, { error: { code: 400, message: 'messages: Too small: expected array to have >=1 items', type: 'invalid_request_error' } }],
  },
};

const METRICS: Record<Personality, string[]> = {
  vllm: [
    'vllm:num_requests_running{model_name="sim-llama-8b",engine="0"} 0',
    'vllm:num_requests_waiting{',
    'vllm:kv_cache_usage_perc{',
    'vllm:cache_config_info{block_size="16",cache_dtype="auto",enable_prefix_caching="True",gpu_memory_utilization="0.9",num_gpu_blocks="500"} 1',
    'vllm:prefix_cache_queries_total{',
    'vllm:prefix_cache_hits_total{',
    'vllm:num_preemptions_total{',
    'vllm:prompt_tokens_total{',
    'vllm:generation_tokens_total{model_name="sim-llama-8b",engine="0"} 16',
    'vllm:time_to_first_token_seconds_count{model_name="sim-llama-8b",engine="0"} 1',
    'vllm:inter_token_latency_seconds_bucket{',
    'vllm:time_per_output_token_seconds_sum{',
    'vllm:e2e_request_latency_seconds_count{model_name="sim-llama-8b",engine="0"} 1',
  ],
  sglang: [
    'sglang:num_running_reqs{model_name="sim-llama-8b"} 0',
    'sglang:num_queue_reqs{',
    'sglang:token_usage{',
    'sglang:max_total_num_tokens{model_name="sim-llama-8b"} 8000',
    'sglang:cache_hit_rate{',
    'sglang:prompt_tokens_total{',
    'sglang:generation_tokens_total{model_name="sim-llama-8b"} 16',
    'sglang:cached_tokens_total{model_name="sim-llama-8b",cache_source="device"} 0',
    'sglang:time_to_first_token_seconds_count{model_name="sim-llama-8b"} 1',
    'sglang:inter_token_latency_seconds_bucket{',
    'sglang:e2e_request_latency_seconds_sum{',
  ],
  tgi: ['tgi_queue_size 0', 'tgi_batch_current_size 0', 'tgi_batch_current_max_tokens 0', 'tgi_request_count 1', 'tgi_request_success 1', 'tgi_request_duration_count 1'],
  llamacpp: [
    'llamacpp:prompt_tokens_total ',
    'llamacpp:tokens_predicted_total 16',
    'llamacpp:prompt_seconds_total ',
    'llamacpp:requests_processing 0',
    'llamacpp:requests_deferred 0',
    'llamacpp:kv_cache_usage_ratio 0',
    'llamacpp:n_decode_total 16',
  ],
};

describe('simulator personalities', () => {
  for (const personality of ['vllm', 'sglang', 'tgi', 'llamacpp'] as const) {
    test(`renders ${personality} errors in ${personality}'s own shape`, async (t) => {
      const s = await started(t, { personality });
      const notFound = await post(s, CHAT, { ...chat('x'), model: 'nope' });
      assert.deepEqual([notFound.status, await json(notFound)], ERROR_SHAPES[personality].notFound);
      const invalid = await post(s, CHAT, { model: 'sim-llama-8b', messages: [] });
      assert.deepEqual([invalid.status, await json(invalid)], ERROR_SHAPES[personality].invalid);
    });

    test(`exposes ${personality}'s metric names`, async (t) => {
      const s = await started(t, { personality, kvBlocks: 500 });
      assert.equal((await post(s, CHAT, chat('x'))).status, 200);
      const models = await json(await fetch(`${s.url}/v1/models`));
      assert.equal((models['data'] as { owned_by: string }[])[0]!.owned_by, personality);
      const res = await fetch(`${s.url}/metrics`);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
      const text = await res.text();
      for (const expected of METRICS[personality]) assert.ok(text.split('\n').some((l) => l.startsWith(expected)), `missing ${expected}`);
      for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) assert.match(line, /^[a-z][a-z0-9_:]*(\{[^}]*\})? [-0-9.e+]+$/);
    });
  }
});

describe('simulator engines and fleets', () => {
  test('answers from precomputed buffers in fast mode, streamed and not', async (t) => {
    const s = await started(t, { engine: 'fast', fastResponseTokens: 4, model: 'bench-model' });
    const body = await json(await post(s, CHAT, chat('x')));
    assertMatchesSpec('CreateChatCompletionResponse', body);
    assert.equal(body['model'], 'bench-model');
    const text = await (await post(s, CHAT, '{"messages":[],"stream": true,"stream_options":{"include_usage":true}}')).text();
    const chunks = sseJson(text);
    for (const c of chunks) assertMatchesSpec('CreateChatCompletionStreamResponse', c);
    assert.equal(chunks.length, 1 + 4 + 1 + 1);
    assert.equal(sseData(text).at(-1), '[DONE]');
    const completion = await json(await post(s, '/v1/completions', { prompt: 'x' }));
    assertMatchesSpec('CreateCompletionResponse', completion);
    assert.equal((await post(s, CHAT, chat('x'), { 'x-sim-fault': 'status=503' })).status, 503);
  });

  test('runs an engine supplied by createEngine', async (t) => {
    let submitted = 0;
    const s = await started(t, {
      createEngine: (scheduler) => {
        const inner = createSimpleEngine(scheduler, { ttftMs: 1, itlMs: 1 });
        return { ...inner, submit: (req, cb) => (submitted++, inner.submit(req, cb)) };
      },
    });
    assert.equal((await post(s, CHAT, chat('x', { n: 3 }))).status, 200);
    assert.equal(submitted, 3);
  });

  test('selects the vLLM engine by name when it exists, else says it is not available', async () => {
    const available = existsSync(new URL('../../src/sim/engine/vllm.ts', import.meta.url));
    const attempt = startSim({ engine: 'vllm', timeScale: 0.02 });
    if (!available) return void (await assert.rejects(attempt, /engine vllm not available/));
    const s = await attempt;
    try {
      // The second identical request is served from the prefix cache, and usage says so.
      const request = chat('a long shared prefix '.repeat(20), { max_tokens: 2 });
      const cached = [];
      for (let i = 0; i < 2; i++) {
        const body = await json(await post(s, CHAT, request));
        cached.push((body['usage'] as { prompt_tokens_details: { cached_tokens: number } }).prompt_tokens_details.cached_tokens);
      }
      assert.equal(cached[0], 0);
      assert.ok(cached[1]! > 0);
    } finally {
      await s.close();
    }
  });

  test('starts a fleet on distinct ports with one log each', async () => {
    const fleet = await startSimFleet(3, { timeScale: 0.02, personality: 'sglang' });
    try {
      assert.equal(new Set(fleet.map((s) => s.port)).size, 3);
      await post(fleet[1]!, CHAT, chat('only here', { max_tokens: 1 }));
      assert.deepEqual(fleet.map((s) => s.log.entries.length), [0, 1, 0]);
      assert.ok(fleet.every((s) => s.personality === 'sglang'));
    } finally {
      await Promise.all(fleet.map((s) => s.close()));
    }
  });
});
