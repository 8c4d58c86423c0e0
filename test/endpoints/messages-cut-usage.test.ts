import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import type { Gateway } from '../../src/server/index.js';
import type { RequestCtx } from '../../src/core/index.js';
import { eventually, startTestGateway } from '../helpers/harness.js';
import { sleep, SSE_HEAD, startScriptedBackend, type ScriptedBackend } from '../helpers/scripted-backend.js';

const ev = (type: string, body: Record<string, unknown> = {}) => `event: ${type}\ndata: ${JSON.stringify({ type, ...body })}\n\n`;
const MESSAGE_START = ev('message_start', {
  message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 7, output_tokens: 1 } },
});
const DELTA = ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'x' } });

/** Usage of a Messages stream that ends before its message_delta, whose output_tokens is the final count. */
describe('Messages usage of a cut stream', () => {
  let be: ScriptedBackend;
  let gw: Gateway;
  const ended: RequestCtx[] = [];

  before(async () => {
    be = await startScriptedBackend((_req, res) => void res.end());
    gw = await startTestGateway([{ name: 'v', backends: [{ url: be.url, kind: 'vllm', model: 'm' }], retries: 0 }], { onRequestEnd: (ctx: RequestCtx) => void ended.push(ctx) });
  });
  after(async () => {
    await gw.close(100);
    await be.close();
  });

  test('a Messages stream the client leaves before message_delta is charged the deltas it got, not the provisional count', async () => {
    be.setScript(async (_req, res) => {
      res.writeHead(200, SSE_HEAD);
      res.write(MESSAGE_START + ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
      for (let i = 0; i < 200 && !res.destroyed; i++) {
        res.write(DELTA);
        await sleep(5);
      }
      res.end();
    });
    const ac = new AbortController();
    const an = new Anthropic({ baseURL: gw.url, apiKey: 'k', maxRetries: 0, timeout: 10_000 });
    let deltas = 0;
    await assert.rejects(async () => {
      const s = an.messages.stream({ model: 'v', max_tokens: 500, messages: [{ role: 'user', content: 'hi' }] }, { signal: ac.signal });
      for await (const e of s) if (e.type === 'content_block_delta' && ++deltas === 30) ac.abort();
    });
    const ctx = (await eventually(() => ended.find((c) => c.outcome === 'client_abort' && c.endpoint === 'messages')))!;
    assert.ok((ctx.usage?.completionTokens ?? 0) >= 30, `charged ${ctx.usage?.completionTokens} for ${deltas} deltas`);
  });
});
