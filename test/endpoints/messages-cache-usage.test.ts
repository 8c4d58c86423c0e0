import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import type { Gateway } from '../../src/server/index.js';
import type { RequestCtx } from '../../src/core/index.js';
import { eventually, startTestGateway } from '../helpers/harness.js';
import { SSE_HEAD, startScriptedBackend, type ScriptedBackend } from '../helpers/scripted-backend.js';

/**
 * llama.cpp reports Messages usage as Anthropic defines it: input_tokens is the prompt less its cached prefix, and
 * cache_read_input_tokens the prefix. A conversation of 1,000 prompt tokens, 900 of them from the slot's cache, was
 * charged 100 prompt tokens (and 0 cached when not streamed) against tpm limits, quotas and reports, while the same
 * conversation through chat completions on the same engine was charged 1,000.
 */
const USAGE = { cache_read_input_tokens: 900, input_tokens: 100 };
const ev = (type: string, body: Record<string, unknown> = {}) => `event: ${type}\ndata: ${JSON.stringify({ type, ...body })}\n\n`;

describe("Messages usage with Anthropic's prompt-cache counts", () => {
  let be: ScriptedBackend;
  let gw: Gateway;
  const ended: RequestCtx[] = [];

  before(async () => {
    be = await startScriptedBackend((_req, res, body) => {
      if (body.stream === true) {
        res.writeHead(200, SSE_HEAD);
        const message = { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [], stop_reason: null, stop_sequence: null, usage: { ...USAGE, output_tokens: 0 } };
        res.end(
          ev('message_start', { message }) +
            ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
            ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hi there' } }) +
            ev('content_block_stop', { index: 0 }) +
            ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 2 } }) +
            ev('message_stop'),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [{ type: 'text', text: 'Hi there' }], stop_reason: 'end_turn', stop_sequence: null, usage: { ...USAGE, output_tokens: 2 } }));
    });
    gw = await startTestGateway([{ name: 'l', backends: [{ url: be.url, kind: 'llamacpp', model: 'm' }], retries: 0 }], { onRequestEnd: (ctx: RequestCtx) => void ended.push(ctx) });
  });
  after(async () => {
    await gw.close(100);
    await be.close();
  });

  const client = () => new Anthropic({ baseURL: gw.url, apiKey: 'k', maxRetries: 0, timeout: 10_000 });
  const req = { model: 'l', max_tokens: 16, messages: [{ role: 'user' as const, content: 'hi' }] };
  const charged = async (stream: boolean) => {
    const ctx = (await eventually(() => ended.find((c) => c.endpoint === 'messages' && c.stream === stream)))!;
    return [ctx.usage?.promptTokens, ctx.usage?.cachedTokens, ctx.usage?.completionTokens, ctx.usage?.source];
  };

  test('a non-streamed answer is charged the whole prompt, its cached part counted as cached', async () => {
    const msg = await client().messages.create(req);
    assert.deepEqual(msg.usage, { ...USAGE, output_tokens: 2 }); // the client sees the engine's own counts
    assert.deepEqual(await charged(false), [1000, 900, 2, 'backend']);
  });

  test('a streamed answer is charged the same', async () => {
    const msg = await client().messages.stream(req).finalMessage();
    assert.equal(msg.usage.cache_read_input_tokens, 900);
    assert.deepEqual(await charged(true), [1000, 900, 2, 'backend']);
  });
});
