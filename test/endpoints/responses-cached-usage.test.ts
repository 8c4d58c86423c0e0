import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { Gateway } from '../../src/server/index.js';
import type { RequestCtx } from '../../src/core/index.js';
import { eventually, startTestGateway } from '../helpers/harness.js';
import { SSE_HEAD, startScriptedBackend, type ScriptedBackend } from '../helpers/scripted-backend.js';

/**
 * The Responses API reports prefix-cache hits as usage.input_tokens_details.cached_tokens (vLLM and OpenAI alike).
 * The gateway read cached tokens from chat's prompt_tokens_details only, so every native Responses row, metric and
 * report said 0 cached tokens however much of the prompt the engine had cached.
 */
const USAGE = { input_tokens: 1000, input_tokens_details: { cached_tokens: 896 }, output_tokens: 2, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 1002 };

function response(status: string) {
  return {
    id: 'resp_1',
    object: 'response',
    created_at: 1,
    model: 'm',
    status,
    output: status === 'completed' ? [{ type: 'message', id: 'msg_1', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Hi', annotations: [] }] }] : [],
    usage: status === 'completed' ? USAGE : null,
  };
}

describe('native Responses usage counts cached input tokens', () => {
  let be: ScriptedBackend;
  let gw: Gateway;
  const ended: RequestCtx[] = [];

  before(async () => {
    be = await startScriptedBackend((_req, res, body) => {
      if (body.stream === true) {
        res.writeHead(200, SSE_HEAD);
        const ev = (type: string, extra: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...extra })}\n\n`;
        res.end(ev('response.created', { sequence_number: 0, response: response('in_progress') }) + ev('response.completed', { sequence_number: 1, response: response('completed') }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(response('completed')));
    });
    gw = await startTestGateway([{ name: 'v', backends: [{ url: be.url, kind: 'vllm', model: 'm' }], retries: 0 }], { onRequestEnd: (ctx: RequestCtx) => void ended.push(ctx) });
  });
  after(async () => {
    await gw.close(100);
    await be.close();
  });

  const client = () => new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'k', maxRetries: 0 });
  const charged = async (stream: boolean) => {
    const ctx = (await eventually(() => ended.find((c) => c.endpoint === 'responses' && c.stream === stream)))!;
    return [ctx.usage?.promptTokens, ctx.usage?.cachedTokens, ctx.usage?.completionTokens, ctx.usage?.source];
  };

  test('not streamed', async () => {
    const r = await client().responses.create({ model: 'v', input: 'hi' });
    assert.equal(r.usage?.input_tokens_details.cached_tokens, 896);
    assert.deepEqual(await charged(false), [1000, 896, 2, 'backend']);
  });

  test('streamed', async () => {
    const stream = await client().responses.create({ model: 'v', input: 'hi', stream: true });
    for await (const ev of stream) void ev;
    assert.deepEqual(await charged(true), [1000, 896, 2, 'backend']);
  });
});
