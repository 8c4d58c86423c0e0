import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import type { Gateway } from '../../src/server/index.js';
import type { RequestCtx } from '../../src/core/index.js';
import { client, eventually, startTestGateway } from '../helpers/harness.js';
import { chunk, SSE_HEAD, startScriptedBackend, type ScriptedBackend } from '../helpers/scripted-backend.js';

const ev = (type: string, body: Record<string, unknown> = {}) => `event: ${type}\ndata: ${JSON.stringify({ type, ...body })}\n\n`;
const MESSAGE_START = ev('message_start', {
  message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 7, output_tokens: 1 } },
});
const DELTA = ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'x' } });

/**
 * How a backend's stream ends: a last event without its blank line, events after `[DONE]`, llama.cpp's `error:` line
 * and a Messages pass-through stream's last event.
 */
describe('stream tails and engine-specific endings', () => {
  let be: ScriptedBackend;
  let gw: Gateway;
  const ended: RequestCtx[] = [];

  before(async () => {
    be = await startScriptedBackend((_req, res) => void res.end());
    gw = await startTestGateway(
      [
        { name: 'v', backends: [{ url: be.url, kind: 'vllm', model: 'm' }], retries: 0 },
        { name: 'l', backends: [{ url: be.url, kind: 'llamacpp', model: 'm' }], retries: 0 },
        { name: 't', backends: [{ url: be.url, kind: 'tgi', model: 'm' }], retries: 0 },
      ],
      { onRequestEnd: (ctx: RequestCtx) => void ended.push(ctx) },
    );
  });
  after(async () => {
    await gw.close(100);
    await be.close();
  });

  const chatStream = (model = 'v') =>
    fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });

  test('a final [DONE] without its blank line ends the chat stream cleanly, terminated, with no error frame run into it', async () => {
    be.setScript((_req, res) => {
      res.writeHead(200, SSE_HEAD);
      res.write(chunk('A', 'stop'));
      res.end('data: [DONE]');
    });
    const res = await chatStream();
    const text = await res.text();
    assert.ok(text.endsWith('data: [DONE]\n\n'), JSON.stringify(text.slice(-80)));
    assert.ok(!text.includes('"error"'), text);
    const ctx = (await eventually(() => ended.at(-1)))!;
    assert.equal(ctx.outcome, 'success');
  });

  test('CR line ends up to a final [DONE]\\r\\r are a complete stream', async () => {
    be.setScript((_req, res) => {
      res.writeHead(200, SSE_HEAD);
      res.write(chunk('A', 'stop').replaceAll('\n', '\r'));
      res.end('data: [DONE]\r\r');
    });
    const text = await (await chatStream()).text();
    assert.ok(!text.includes('"error"'), text);
  });

  test('nothing after [DONE] reaches the client: [DONE] comes exactly once', async () => {
    be.setScript((_req, res) => {
      res.writeHead(200, SSE_HEAD);
      res.write(chunk('A', 'stop'));
      res.write('data: [DONE]\n\n');
      res.write(chunk('late'));
      res.end('data: [DONE]\n\n');
    });
    const text = await (await chatStream()).text();
    assert.equal(text.split('[DONE]').length - 1, 1, text);
    assert.ok(!text.includes('late'), text);
  });

  test('a stream that ends cleanly after its finish_reason without [DONE] (TGI before 2.2) is complete, and gets its [DONE]', async () => {
    const usage = `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 } })}\n\n`;
    be.setScript((_req, res) => {
      res.writeHead(200, SSE_HEAD);
      res.write(chunk('A'));
      res.end(chunk('B', 'eos_token') + usage);
    });
    ended.length = 0;
    const stream = await client(gw).chat.completions.create({ model: 't', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    assert.equal(text, 'AB');
    const ctx = (await eventually(() => ended.at(-1)))!;
    assert.deepEqual([ctx.outcome, ctx.usage?.source, ctx.usage?.completionTokens], ['success', 'backend', 2]);
    const raw = await (await chatStream('t')).text();
    assert.ok(raw.endsWith('data: [DONE]\n\n') && !raw.includes('"error"'), JSON.stringify(raw.slice(-120)));

    const res = await fetch(`${gw.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 't', stream: true, input: 'hi' }) });
    const events = await res.text();
    assert.match(events, /event: response\.completed/);
    assert.doesNotMatch(events, /response\.failed/);
  });

  test('a stream that ends cleanly before any finish_reason is still incomplete: the error event, no [DONE]', async () => {
    be.setScript((_req, res) => {
      res.writeHead(200, SSE_HEAD);
      res.write(chunk('A'));
      res.end(chunk('B'));
    });
    const raw = await (await chatStream('t')).text();
    assert.match(raw, /closed the stream before it finished/);
    assert.ok(!raw.includes('[DONE]'), raw);
  });

  test("llama.cpp's `error:` line mid-stream ends the chat stream with its message in OpenAI's envelope", async () => {
    be.setScript((_req, res) => {
      res.writeHead(200, SSE_HEAD);
      res.write(chunk('A'));
      res.end(`error: ${JSON.stringify({ code: 500, message: 'llama boom', type: 'server_error' })}\n\n`);
    });
    const stream = await client(gw).chat.completions.create({ model: 'l', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    await assert.rejects(async () => {
      for await (const _ of stream) {
        // consume
      }
    }, /llama boom/);
  });

  test("llama.cpp's `error:` line fails a translated Responses stream with response.failed", async () => {
    be.setScript((_req, res) => {
      res.writeHead(200, SSE_HEAD);
      res.write(chunk('A'));
      res.end(`error: ${JSON.stringify({ code: 500, message: 'llama boom', type: 'server_error' })}\n\n`);
    });
    const res = await fetch(`${gw.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'l', stream: true, input: 'hi' }) });
    const text = await res.text();
    assert.match(text, /event: response\.failed/);
    assert.match(text, /llama boom/);
  });

  test('a Messages stream whose message_stop has no blank line still reaches the SDK as a complete message', async () => {
    be.setScript((_req, res) => {
      res.writeHead(200, SSE_HEAD);
      res.write(MESSAGE_START + ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) + DELTA + ev('content_block_stop', { index: 0 }));
      res.write(ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 1 } }));
      res.end(ev('message_stop').slice(0, -1));
    });
    const an = new Anthropic({ baseURL: gw.url, apiKey: 'k', maxRetries: 0, timeout: 10_000 });
    const msg = await an.messages.stream({ model: 'v', max_tokens: 9, messages: [{ role: 'user', content: 'hi' }] }).finalMessage();
    assert.equal(msg.stop_reason, 'end_turn');
  });
});
