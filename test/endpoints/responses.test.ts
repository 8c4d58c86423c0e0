import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { SimServer } from '../../src/sim/index.js';
import { assertMatchesSpec, client, readSse, startSims } from '../helpers/harness.js';
import { lastEnded, lastPost, postJson, startGovernedGateway, type GovernedGateway } from './helpers.js';

const weatherTool = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'Weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  strict: false,
};

/** Each event checked against its own schema in OpenAI's spec (the union's errors would not say which member failed). */
const EVENT_SCHEMAS: Record<string, string> = {
  'response.created': 'ResponseCreatedEvent',
  'response.in_progress': 'ResponseInProgressEvent',
  'response.output_item.added': 'ResponseOutputItemAddedEvent',
  'response.content_part.added': 'ResponseContentPartAddedEvent',
  'response.output_text.delta': 'ResponseTextDeltaEvent',
  'response.output_text.done': 'ResponseTextDoneEvent',
  'response.content_part.done': 'ResponseContentPartDoneEvent',
  'response.output_item.done': 'ResponseOutputItemDoneEvent',
  'response.function_call_arguments.delta': 'ResponseFunctionCallArgumentsDeltaEvent',
  'response.function_call_arguments.done': 'ResponseFunctionCallArgumentsDoneEvent',
  'response.completed': 'ResponseCompletedEvent',
  'response.incomplete': 'ResponseIncompleteEvent',
  'response.failed': 'ResponseFailedEvent',
  error: 'ResponseErrorEvent',
};

function assertEvent(ev: { type: string }): void {
  const schema = EVENT_SCHEMAS[ev.type];
  assert.ok(schema, `unexpected event type ${ev.type}`);
  assertMatchesSpec(schema, ev);
}

describe('the Responses API', () => {
  let natives: SimServer[];
  let sglang: SimServer;
  let g: GovernedGateway;
  let sdk: OpenAI;

  before(async () => {
    natives = await startSims(2, { storeResponses: true });
    sglang = (await startSims(1, { personality: 'sglang' }))[0]!;
    g = await startGovernedGateway([
      { name: 'native', policy: 'round_robin', backends: natives.map((s) => ({ url: s.url, model: 'sim-llama-8b' })) },
      { name: 'chat-only', backends: [{ url: sglang.url, kind: 'sglang', model: 'sim-llama-8b' }] },
    ]);
    sdk = client(g.gw, { apiKey: await g.token('models:*') });
  });
  after(async () => {
    await g.close();
    await Promise.all([...natives, sglang].map((s) => s.close()));
  });

  test('translates a request for a chat-only backend and answers with a Response that matches the spec', async () => {
    const res = await sdk.responses.create({ model: 'chat-only', instructions: 'Be brief.', input: 'Tell me a story', max_output_tokens: 40 });
    assertMatchesSpec('Response', res);
    assert.equal(res.status, 'completed');
    assert.ok(res.output_text.length > 0);
    assert.equal(res.instructions, 'Be brief.');
    const sent = JSON.parse(lastPost(sglang).rawBody);
    assert.equal(lastPost(sglang).path, '/v1/chat/completions');
    assert.deepEqual(sent.messages, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Tell me a story' },
    ]);
    assert.equal(sent.max_tokens, 40);
    const ctx = lastEnded(g, 'responses');
    assert.equal(ctx.usage?.source, 'backend');
    assert.equal(ctx.usage?.promptTokens, res.usage!.input_tokens);
    assert.equal(ctx.usage?.completionTokens, res.usage!.output_tokens);
  });

  test('streams translated typed events in order, each matching the spec, ending with response.completed and usage', async () => {
    const stream = await sdk.responses.create({ model: 'chat-only', input: 'Stream a story', stream: true });
    const types: string[] = [];
    let text = '';
    let completed: OpenAI.Responses.Response | null = null;
    let lastSeq = -1;
    for await (const ev of stream) {
      assertEvent(ev);
      assert.equal(ev.sequence_number, lastSeq + 1);
      lastSeq = ev.sequence_number;
      types.push(ev.type);
      if (ev.type === 'response.output_text.delta') text += ev.delta;
      if (ev.type === 'response.completed') completed = ev.response;
    }
    assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
    assert.ok(completed);
    assert.equal(completed.output_text ?? (completed.output[0] as { content: Array<{ text: string }> }).content[0]!.text, text);
    assert.ok(completed.usage!.output_tokens > 0);
    assert.equal(lastEnded(g, 'responses').usage?.completionTokens, completed.usage!.output_tokens);
  });

  test('round-trips a tool call and its output through the translation, streamed and not', async () => {
    const first = await sdk.responses.create({ model: 'chat-only', input: 'Use get_weather for Paris', tools: [weatherTool] });
    assertMatchesSpec('Response', first);
    const call = first.output.find((o) => o.type === 'function_call') as OpenAI.Responses.ResponseFunctionToolCall;
    assert.ok(call, 'the model called the tool');
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'x' });
    const toolsSent = JSON.parse(lastPost(sglang).rawBody).tools;
    assert.deepEqual(toolsSent, [{ type: 'function', function: { name: 'get_weather', parameters: weatherTool.parameters, description: 'Weather for a city', strict: false } }]);

    const stream = await sdk.responses.create({
      model: 'chat-only',
      tools: [weatherTool],
      stream: true,
      input: [
        { role: 'user', content: 'Use get_weather for Paris' },
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: '{"temp": 21}' },
      ],
    });
    let answer = '';
    for await (const ev of stream) if (ev.type === 'response.output_text.delta') answer += ev.delta;
    assert.ok(answer.length > 0, 'the model answered in text after the tool output');
    const sent = JSON.parse(lastPost(sglang).rawBody);
    assert.deepEqual(sent.messages.slice(1), [
      { role: 'assistant', content: null, tool_calls: [{ id: call.call_id, type: 'function', function: { name: 'get_weather', arguments: call.arguments } }] },
      { role: 'tool', tool_call_id: call.call_id, content: '{"temp": 21}' },
    ]);

    const streamedCall = await sdk.responses.create({ model: 'chat-only', input: 'Use get_weather now', tools: [weatherTool], stream: true });
    let args = '';
    let done: OpenAI.Responses.ResponseFunctionCallArgumentsDoneEvent | null = null;
    for await (const ev of streamedCall) {
      assertEvent(ev);
      if (ev.type === 'response.function_call_arguments.delta') args += ev.delta;
      if (ev.type === 'response.function_call_arguments.done') done = ev;
    }
    assert.equal(done?.arguments, args);
    assert.deepEqual(JSON.parse(args), { city: 'x' });
  });

  test('refuses with a clear 400 what a chat-only backend cannot do', async () => {
    await assert.rejects(
      sdk.responses.create({ model: 'chat-only', input: 'hi', store: true }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'store' && /Stored responses/.test(e.message),
    );
    await assert.rejects(
      sdk.responses.create({ model: 'chat-only', input: 'hi', tools: [{ type: 'web_search' }] }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'tools[0].type',
    );
    await assert.rejects(
      sdk.responses.create({ model: 'chat-only', input: 'hi', previous_response_id: 'resp_unknown' }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'previous_response_id',
    );
    // As chat refuses max_tokens: 0 (it used to reach the backend as chat's max_tokens: 0).
    await assert.rejects(
      sdk.responses.create({ model: 'chat-only', input: 'hi', max_output_tokens: 0 }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'max_output_tokens' && e.code === 'integer_below_min_value',
    );
  });

  test('passes through to a backend that serves the API, and retrieves, continues and cancels on the backend that stored it', async () => {
    const res = await sdk.responses.create({ model: 'native', input: 'Remember this', store: true });
    assertMatchesSpec('Response', res);
    assert.equal((res as unknown as { store: boolean }).store, true);
    const holder = natives.find((s) => s.log.entries.some((e) => e.path === '/v1/responses'))!;
    const other = natives.find((s) => s !== holder)!;
    for (let i = 0; i < 3; i++) {
      const again = await sdk.responses.retrieve(res.id);
      assert.equal(again.id, res.id);
      const next = await sdk.responses.create({ model: 'native', input: 'And now?', previous_response_id: res.id });
      assert.equal(next.previous_response_id, res.id);
    }
    assert.equal(other.log.entries.filter((e) => e.path.startsWith('/v1/responses')).length, 0, 'round robin never sent them elsewhere');
    await assert.rejects(sdk.responses.cancel(res.id), (e: unknown) => e instanceof OpenAI.BadRequestError && /synchronous/.test(e.message));
    assert.ok(holder.log.entries.some((e) => e.path === `/v1/responses/${res.id}/cancel`));

    const stranger = client(g.gw, { apiKey: await g.token('models:*', 'mallory') });
    await assert.rejects(stranger.responses.retrieve(res.id), OpenAI.NotFoundError);
    await assert.rejects(sdk.responses.retrieve('resp_never'), OpenAI.NotFoundError);
  });

  test('relays a native stream byte for byte, with usage recorded from response.completed', async () => {
    const stream = await sdk.responses.create({ model: 'native', input: 'Native stream', stream: true, max_output_tokens: 7 });
    let last: string | null = null;
    for await (const ev of stream) {
      assertEvent(ev);
      last = ev.type;
    }
    assert.equal(last, 'response.incomplete');
    const ctx = lastEnded(g, 'responses');
    assert.equal(ctx.status, 200);
    assert.equal(ctx.usage?.source, 'backend');
    assert.equal(ctx.usage?.completionTokens, 7);
  });

  test('fails over before the first byte, and ends a translated stream the engine broke with error and response.failed', async () => {
    natives[0]!.setFault({ status: 503 });
    try {
      for (let i = 0; i < 2; i++) {
        const res = await sdk.responses.create({ model: 'native', input: `failover ${i}` });
        assert.equal(res.status, 'completed');
      }
      assert.ok(g.ended.slice(-2).some((c) => c.attempts === 2 && c.backendId === natives[1]!.url && c.status === 200));
    } finally {
      natives[0]!.setFault(null);
    }

    const res = await postJson(`${g.gw.url}/v1/responses`, await g.token('models:*'), { model: 'chat-only', input: 'break', stream: true, sim_fault: { error_after_chunks: 2 } });
    assert.equal(res.status, 200);
    const events = (await readSse(res)).map((d) => JSON.parse(d) as { type: string; response?: { status: string; error: { code: string } } });
    for (const ev of events) assertEvent(ev);
    const types = events.map((e) => e.type);
    assert.equal(types.filter((t) => t === 'response.output_text.delta').length, 2);
    assert.deepEqual(types.slice(-2), ['error', 'response.failed']);
    assert.equal(events.at(-1)!.response!.error.code, 'server_error');
    const ctx = lastEnded(g, 'responses');
    assert.equal(ctx.outcome, 'upstream_error');
    assert.equal(JSON.parse(lastPost(sglang).rawBody).sim_fault.error_after_chunks, 2, 'vendor extras reach the chat backend');
  });

  test('a stream the backend drops after it started ends with error and response.failed, native and translated', async () => {
    for (const model of ['native', 'chat-only']) {
      const res = await postJson(`${g.gw.url}/v1/responses`, await g.token('models:*'), { model, input: `drop ${model}`, stream: true, max_output_tokens: 30, sim_fault: { drop_after_chunks: 2 } });
      assert.equal(res.status, 200);
      const events = (await readSse(res)).map((d) => JSON.parse(d) as { type: string; delta?: string; sequence_number: number; response?: { status: string; error: { code: string } | null; output: Array<{ content?: Array<{ text: string }> }> } });
      for (const ev of events) assertEvent(ev);
      const types = events.map((e) => e.type);
      assert.deepEqual(types.slice(-2), ['error', 'response.failed'], `${model}: ${types.join(',')}`);
      assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i), `${model}: sequence numbers`);
      const failed = events.at(-1)!.response!;
      assert.equal(failed.status, 'failed');
      assert.equal(failed.error!.code, 'server_error');
      if (model === 'chat-only') {
        // The failed Response keeps what was streamed of its message.
        const streamed = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
        assert.ok(streamed.length > 0);
        assert.equal(failed.output[0]!.content![0]!.text, streamed);
      }
      assert.equal(lastEnded(g, 'responses').outcome, 'upstream_error');

      // An SDK loop waiting for the terminal event gets it: a Response whose status says it failed.
      const stream = await sdk.responses.create({ model, input: `sdk drop ${model}`, stream: true, max_output_tokens: 30, sim_fault: { drop_after_chunks: 2 } } as never);
      let terminal: { status: string } | null = null;
      for await (const ev of stream as unknown as AsyncIterable<{ type: string; response?: { status: string } }>) {
        if (ev.type === 'response.completed' || ev.type === 'response.incomplete' || ev.type === 'response.failed') terminal = ev.response!;
      }
      assert.equal(terminal?.status, 'failed', model);
    }
  });

  test('a chat backend refusing the translated request names the Responses field the client sent', async () => {
    for (const stream of [false, true]) {
      const err = await sdk.responses.create({ model: 'chat-only', input: 'too long', max_output_tokens: 1_000_000, stream } as never).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(err instanceof OpenAI.BadRequestError, `stream ${stream}`);
      assert.equal(err.code, 'context_length_exceeded');
      // The backend named max_tokens, a field of the chat request the gateway made, never of the client's.
      assert.equal(err.param, 'max_output_tokens', `stream ${stream}`);
    }
  });

  test('a translated response carries the token logprobs the client included, streamed and not', async () => {
    const res = await sdk.responses.create({ model: 'chat-only', input: 'logprobs please', max_output_tokens: 12, include: ['message.output_text.logprobs'], top_logprobs: 2 });
    assertMatchesSpec('Response', res);
    const part = (res.output[0] as { content: Array<{ text: string; logprobs: Array<{ token: string; logprob: number; top_logprobs: unknown[] }> }> }).content[0]!;
    assert.ok(part.logprobs.length > 0, 'logprobs relayed');
    assert.equal(part.logprobs.map((l) => l.token).join(''), part.text);
    assert.ok(part.logprobs.every((l) => typeof l.logprob === 'number' && l.top_logprobs.length === 2));
    // Without top_logprobs, including them still asks the backend.
    await sdk.responses.create({ model: 'chat-only', input: 'just include', max_output_tokens: 4, include: ['message.output_text.logprobs'] });
    assert.equal(JSON.parse(lastPost(sglang).rawBody).logprobs, true);

    const res2 = await postJson(`${g.gw.url}/v1/responses`, await g.token('models:*'), { model: 'chat-only', input: 'stream logprobs', stream: true, max_output_tokens: 8, include: ['message.output_text.logprobs'], top_logprobs: 1 });
    const events = (await readSse(res2)).map((d) => JSON.parse(d) as { type: string; delta?: string; logprobs?: Array<{ token: string }>; text?: string });
    for (const ev of events) assertEvent(ev);
    const deltas = events.filter((e) => e.type === 'response.output_text.delta');
    assert.ok(deltas.every((d) => (d.logprobs ?? []).map((l) => l.token).join('') === d.delta), 'each delta carries its own tokens');
    const done = events.find((e) => e.type === 'response.output_text.done')!;
    assert.equal(done.logprobs!.map((l) => l.token).join(''), done.text);
  });

  test('governs the Responses API with its own scope operation', async () => {
    const chatOnly = await g.token('models:chat-only:chat', 'carol');
    const denied = await postJson(`${g.gw.url}/v1/responses`, chatOnly, { model: 'chat-only', input: 'hi' });
    assert.equal(denied.status, 403);
    const allowed = await g.token('models:chat-only:responses', 'carol');
    const ok = await postJson(`${g.gw.url}/v1/responses`, allowed, { model: 'chat-only', input: 'hi' });
    assert.equal(ok.status, 200);
    const ctx = lastEnded(g, 'responses');
    assert.equal(ctx.principal.subject, 'carol');
    assert.equal(ctx.usage?.source, 'backend');
    assert.equal((await postJson(`${g.gw.url}/v1/responses`, null, { model: 'chat-only', input: 'hi' })).status, 401);
  });
});
