import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { assertMatchesSpec, client, readSse, startSims, startTestGateway } from '../helpers/harness.js';

describe('chat completions through the gateway', () => {
  let sims: SimServer[];
  let gw: Gateway;

  before(async () => {
    sims = await startSims(2);
    gw = await startTestGateway([
      { name: 'llama', aliases: ['llama-alias'], backends: sims.map((s) => ({ url: s.url, model: 'sim-llama-8b' })) },
    ]);
  });
  after(async () => {
    await gw.close(100);
    await Promise.all(sims.map((s) => s.close()));
  });

  test('answers a non-streamed chat request in OpenAI shape with usage', async () => {
    const res = await client(gw).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'Hello there' }] });
    assertMatchesSpec('CreateChatCompletionResponse', res);
    assert.equal(res.object, 'chat.completion');
    assert.ok(res.choices[0]?.message.content);
    assert.ok(res.usage && res.usage.prompt_tokens > 0 && res.usage.completion_tokens > 0);
  });

  test('streams chunks that each match the spec, without a usage chunk the client did not ask for', async () => {
    const stream = await client(gw).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'Stream please' }], stream: true });
    let text = '';
    let chunks = 0;
    let finish: string | null = null;
    for await (const chunk of stream) {
      assertMatchesSpec('CreateChatCompletionStreamResponse', chunk);
      assert.equal(chunk.usage ?? null, null, 'no usage chunk when not requested');
      assert.ok(chunk.choices.length > 0, 'no usage-only chunk when not requested');
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      chunks++;
    }
    assert.ok(chunks > 2);
    assert.ok(text.length > 0);
    assert.ok(finish === 'stop' || finish === 'length');
    // The gateway asked the backend for usage anyway.
    const entry = sims.flatMap((s) => s.log.entries).filter((e) => e.rawBody.includes('Stream please')).at(-1)!;
    assert.deepEqual(JSON.parse(entry.rawBody).stream_options, { include_usage: true });
  });

  test('passes the usage chunk through when the client asks for it', async () => {
    const stream = await client(gw).chat.completions.create({
      model: 'llama',
      messages: [{ role: 'user', content: 'with usage' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage = null;
    for await (const chunk of stream) {
      assertMatchesSpec('CreateChatCompletionStreamResponse', chunk);
      if (chunk.usage) usage = chunk.usage;
    }
    assert.ok(usage && usage.total_tokens > 0);
  });

  test("vLLM's per-chunk usage stays off when the client did not ask for usage (the injected option must not turn it on)", async () => {
    for (const options of [{ continuous_usage_stats: true }, { include_usage: false, continuous_usage_stats: true }]) {
      const stream = await client(gw).chat.completions.create({
        model: 'llama',
        messages: [{ role: 'user', content: 'continuous usage off' }],
        stream: true,
        stream_options: options as never,
      });
      for await (const chunk of stream) assert.equal(chunk.usage ?? null, null, JSON.stringify(chunk));
      const entry = sims.flatMap((s) => s.log.entries).filter((e) => e.rawBody.includes('continuous usage off')).at(-1)!;
      assert.deepEqual(JSON.parse(entry.rawBody).stream_options, { include_usage: true });
    }
    // Asked for with usage, it passes through.
    const stream = await client(gw).chat.completions.create({
      model: 'llama',
      messages: [{ role: 'user', content: 'continuous usage on' }],
      stream: true,
      stream_options: { include_usage: true, continuous_usage_stats: true } as never,
    });
    let withUsage = 0;
    for await (const chunk of stream) if (chunk.usage && chunk.choices.length > 0) withUsage++;
    assert.ok(withUsage > 0);
  });

  test('frames SSE with data lines, blank-line separators and a final [DONE]', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'raw' }], stream: true }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events = await readSse(res);
    assert.equal(events.at(-1), '[DONE]');
    for (const e of events.slice(0, -1)) assertMatchesSpec('CreateChatCompletionStreamResponse', JSON.parse(e));
  });

  test('returns tool calls in OpenAI shape, streamed and not', async () => {
    const tools = [
      {
        type: 'function' as const,
        function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
      },
    ];
    const res = await client(gw).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'weather in Paris?' }], tools, tool_choice: 'required' });
    assertMatchesSpec('CreateChatCompletionResponse', res);
    const call = res.choices[0]?.message.tool_calls?.[0];
    assert.equal(call?.type, 'function');
    assert.equal(call && 'function' in call ? call.function.name : null, 'get_weather');
    assert.doesNotThrow(() => JSON.parse(call && 'function' in call ? call.function.arguments : ''));

    const stream = await client(gw).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'weather?' }], tools, tool_choice: 'required', stream: true });
    let args = '';
    let name = '';
    for await (const chunk of stream) {
      assertMatchesSpec('CreateChatCompletionStreamResponse', chunk);
      for (const tc of chunk.choices[0]?.delta.tool_calls ?? []) {
        name += tc.function?.name ?? '';
        args += tc.function?.arguments ?? '';
      }
    }
    assert.equal(name, 'get_weather');
    assert.doesNotThrow(() => JSON.parse(args));
  });

  test('resolves aliases and rewrites only the model name, leaving every other byte as sent', async () => {
    const raw = '{"model":"llama-alias","messages":[{"role":"user","content":"extras"}],"seed":18446744073709551615,"top_k":40,"min_p":0.05,"repetition_penalty":1.10,"chat_template_kwargs":{"enable_thinking":false},"priority":-3,"cache_salt":"abc","structured_outputs":{"choice":["a","b"]}}';
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
    assert.equal(res.status, 200);
    await res.json();
    const entry = sims.flatMap((s) => s.log.entries).filter((e) => e.rawBody.includes('"extras"')).at(-1)!;
    assert.equal(entry.rawBody, raw.replace('"llama-alias"', '"sim-llama-8b"'));
  });

  test('supports n > 1 and logprobs', async () => {
    const res = await client(gw).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'two' }], n: 2, logprobs: true, top_logprobs: 2 });
    assertMatchesSpec('CreateChatCompletionResponse', res);
    assert.equal(res.choices.length, 2);
    assert.ok(res.choices[0]?.logprobs?.content?.length);
  });

  test('echoes a caller request id and adds Server-Timing', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'abc-123' },
      body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'id' }] }),
    });
    assert.equal(res.headers.get('x-request-id'), 'abc-123');
    assert.match(res.headers.get('server-timing') ?? '', /gateway;dur=\d+(\.\d+)?, upstream;dur=\d+/);
    const entry = sims.flatMap((s) => s.log.entries).filter((e) => e.rawBody.includes('"id"}')).at(-1)!;
    assert.equal(entry.headers['x-request-id'], 'abc-123');
  });
});
