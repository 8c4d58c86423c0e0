import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import type { RequestCtx } from '../../src/core/index.js';
import { assertMatchesSpec, client, readSse, startSims, startTestGateway } from '../helpers/harness.js';

const PERSONALITIES = ['vllm', 'sglang', 'tgi', 'llamacpp'] as const;
const FAULT = { error_after_chunks: 2 };

/**
 * An engine that fails while it streams sends an error event in its own shape: vLLM and llama.cpp nest it under
 * `error`, TGI sends `error` as a string, SGLang a flat `{"object": "error", …}`. Whatever the shape, the client must
 * see OpenAI's error envelope as the last event and no `[DONE]`, so an SDK raises instead of returning a truncated
 * answer as a success; a typed stream (Responses, Messages) must get its own protocol's error event instead.
 */
describe('engine error events in streams, every engine shape', () => {
  const sims = new Map<string, SimServer>();
  let gw: Gateway;
  const ended: RequestCtx[] = [];

  before(async () => {
    for (const p of PERSONALITIES) sims.set(p, (await startSims(1, { personality: p }))[0]!);
    gw = await startTestGateway(
      PERSONALITIES.map((p) => ({ name: p, backends: [{ url: sims.get(p)!.url, kind: p, model: 'sim-llama-8b' }] })),
      { onRequestEnd: (ctx: RequestCtx) => void ended.push(ctx) },
    );
  });
  after(async () => {
    await gw.close(100);
    await Promise.all([...sims.values()].map((s) => s.close()));
  });

  async function post(path: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  }

  for (const p of PERSONALITIES) {
    test(`${p}: a chat stream ends with OpenAI's error envelope, no [DONE], and is logged as failed`, async () => {
      const res = await post('/v1/chat/completions', { model: p, messages: [{ role: 'user', content: 'fail me' }], stream: true, max_tokens: 30, ignore_eos: true, sim_fault: FAULT });
      assert.equal(res.status, 200);
      const events = await readSse(res);
      assert.ok(!events.includes('[DONE]'), 'no [DONE] after an engine error');
      assert.ok(!events.some((e) => /"object"\s*:\s*"error"/.test(e)), "the engine's own shape does not reach the client");
      const last = JSON.parse(events.at(-1)!);
      assertMatchesSpec('ErrorResponse', last);
      assert.equal(last.error.type, 'server_error');
      assert.equal(events.filter((e) => e.includes('"error"')).length, 1, 'one error event');
      // The chunks before the failure were relayed.
      assert.ok(events.filter((e) => e.includes('"choices"')).length >= 2);
      const ctx = ended.at(-1)!;
      assert.equal(ctx.outcome, 'upstream_error');
      assert.equal(ctx.errorCode, 'upstream_error_event');
    });

    test(`${p}: the SDK raises APIError instead of returning a truncated stream`, async () => {
      const stream = await client(gw).chat.completions.create({ model: p, messages: [{ role: 'user', content: 'sdk' }], stream: true, max_tokens: 30, sim_fault: FAULT } as never);
      await assert.rejects(async () => {
        for await (const _ of stream as unknown as AsyncIterable<unknown>) {
          // consume
        }
      }, OpenAI.APIError);
    });
  }

  test('sglang: a legacy completions stream fails the same way', async () => {
    const res = await post('/v1/completions', { model: 'sglang', prompt: 'fail me', stream: true, max_tokens: 30, ignore_eos: true, sim_fault: FAULT });
    const events = await readSse(res);
    assert.ok(!events.includes('[DONE]'));
    assertMatchesSpec('ErrorResponse', JSON.parse(events.at(-1)!));
  });

  test('a native Responses stream gets one Responses error event, not the chat error and [DONE]', async () => {
    const res = await post('/v1/responses', { model: 'vllm', input: 'fail me', stream: true, sim_fault: FAULT });
    assert.equal(res.status, 200);
    const events = await readSse(res);
    assert.ok(!events.includes('[DONE]'), 'no [DONE] in a Responses stream');
    const parsed = events.map((e) => JSON.parse(e) as { type?: string; sequence_number?: number; error?: unknown });
    assert.ok(parsed.every((e) => typeof e.type === 'string'), 'every event is a typed Responses event');
    const errors = parsed.filter((e) => e.type === 'error');
    assert.equal(errors.length, 1, 'exactly one error event (no "backend closed the stream" after it)');
    // The error, then the terminal event a Responses stream always ends with.
    assert.deepEqual(parsed.slice(-2).map((e) => e.type), ['error', 'response.failed']);
    assert.equal(ended.at(-1)!.outcome, 'upstream_error');
  });

  test('a Messages stream gets one Anthropic error event, not the chat error and [DONE]', async () => {
    const res = await post('/v1/messages', { model: 'vllm', max_tokens: 30, messages: [{ role: 'user', content: 'fail me' }], stream: true, sim_fault: FAULT }, { 'anthropic-version': '2023-06-01' });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.ok(!text.includes('[DONE]'));
    const errorEvents = text.split('\n\n').filter((e) => e.startsWith('event: error'));
    assert.equal(errorEvents.length, 1);
    const body = JSON.parse(errorEvents[0]!.split('\n').find((l) => l.startsWith('data: '))!.slice(6)) as { type: string; error: { type: string } };
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'api_error');
    assert.ok(text.trimEnd().endsWith('}'), 'the error is the last event');
    assert.ok(text.lastIndexOf('event: error') > text.lastIndexOf('content_block_delta'));
  });

  test("a Messages error before any event carries Anthropic's request-id header, the same id as x-request-id", async () => {
    const res = await post('/v1/messages', { model: 'no-such-model', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }, { 'anthropic-version': '2023-06-01' });
    assert.equal(res.status, 404);
    assert.ok(res.headers.get('request-id'));
    assert.equal(res.headers.get('request-id'), res.headers.get('x-request-id'));
    assert.equal(((await res.json()) as { error: { type: string } }).error.type, 'not_found_error');
  });
});
