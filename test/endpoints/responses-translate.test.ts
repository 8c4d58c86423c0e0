import { accumulateResponse } from 'openai/lib/responses/ResponseAccumulator';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../../src/core/index.js';
import { chatToResponse } from '../../src/api/responses/from-chat.js';
import { ChatToResponsesStream } from '../../src/api/responses/stream.js';
import { toChatBody } from '../../src/api/responses/to-chat.js';
import type { ResponsesRequest } from '../../src/api/responses/wire.js';
import { assertMatchesSpec } from '../helpers/harness.js';

const chat = (req: Partial<ResponsesRequest>) => JSON.parse(toChatBody({ model: 'm', input: 'x', ...req } as ResponsesRequest, 'backend-m').toString()) as Record<string, unknown>;

function rejects400(req: Partial<ResponsesRequest>, param: string): void {
  assert.throws(
    () => chat(req),
    (e: unknown) => e instanceof GatewayError && e.status === 400 && e.param === param,
  );
}

describe('Responses → chat completions translation', () => {
  test('maps input items to chat messages: developer as system, images as image_url, parallel calls in one turn', () => {
    const body = chat({
      instructions: 'sys',
      input: [
        { role: 'developer', content: 'dev note' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'look ' }, { type: 'input_image', image_url: 'https://x/cat.png' }] },
        { type: 'function_call', call_id: 'c1', name: 'a', arguments: '{}' },
        { type: 'function_call', call_id: 'c2', name: 'b', arguments: '{"k":1}' },
        { type: 'function_call_output', call_id: 'c1', output: 'one' },
        { type: 'function_call_output', call_id: 'c2', output: [{ type: 'input_text', text: 'two' }] },
        { type: 'reasoning', id: 'rs_1', summary: [] },
        { role: 'assistant', content: [{ type: 'output_text', text: 'done' }] },
      ],
    });
    assert.equal(body.model, 'backend-m');
    assert.deepEqual(body.messages, [
      // instructions and the developer message are one system turn (single-system templates refuse two)
      { role: 'system', content: 'sys\n\ndev note' },
      { role: 'user', content: [{ type: 'text', text: 'look ' }, { type: 'image_url', image_url: { url: 'https://x/cat.png' } }] },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'a', arguments: '{}' } },
          { id: 'c2', type: 'function', function: { name: 'b', arguments: '{"k":1}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'c1', content: 'one' },
      { role: 'tool', tool_call_id: 'c2', content: 'two' },
      { role: 'assistant', content: 'done' },
    ]);
    // Text an assistant wrote before its calls is the same chat turn, not a second assistant message in a row.
    const turn = chat({
      input: [
        { role: 'user', content: 'hi' },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Sure, calling.' }] },
        { type: 'function_call', call_id: 'c1', name: 'a', arguments: '{}' },
        { type: 'function_call_output', call_id: 'c1', output: 'one' },
      ],
    });
    assert.deepEqual(turn.messages, [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'Sure, calling.', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'a', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: 'one' },
    ]);
  });

  test('maps settings and passes vendor extras through', () => {
    const body = chat({
      max_output_tokens: 9,
      temperature: 0.2,
      top_p: 0.9,
      tool_choice: { type: 'function', name: 'f' },
      tools: [{ type: 'function', name: 'f', parameters: { type: 'object' } }],
      parallel_tool_calls: false,
      text: { format: { type: 'json_schema', name: 's', schema: { type: 'object' }, strict: true } },
      reasoning: { effort: 'low' },
      stream: true,
      top_k: 5,
      repetition_penalty: 1.1,
    } as Partial<ResponsesRequest>);
    assert.equal(body.max_tokens, 9);
    assert.deepEqual(body.tool_choice, { type: 'function', function: { name: 'f' } });
    assert.equal(body.parallel_tool_calls, false);
    assert.deepEqual(body.response_format, { type: 'json_schema', json_schema: { name: 's', schema: { type: 'object' }, strict: true } });
    assert.equal(body.reasoning_effort, 'low');
    assert.deepEqual(body.stream_options, { include_usage: true });
    assert.deepEqual([body.top_k, body.repetition_penalty, body.temperature, body.top_p], [5, 1.1, 0.2, 0.9]);
    assert.equal('max_output_tokens' in body || 'input' in body || 'text' in body, false);
  });

  test('refuses what chat cannot express, naming the field', () => {
    rejects400({ store: true }, 'store');
    rejects400({ background: true }, 'background');
    rejects400({ truncation: 'auto' }, 'truncation');
    rejects400({ include: ['reasoning.encrypted_content'] }, 'include');
    rejects400({ tools: [{ type: 'file_search' }] }, 'tools[0].type');
    rejects400({ input: [{ type: 'item_reference', id: 'msg_1' }] }, 'input[0]');
    rejects400({ input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] }, 'input[0].content[0]');
    rejects400({ text: { format: { type: 'grammar' } } }, 'text.format.type');
    // Malformed in the request's own terms, not in chat's (the backend would name messages or tools.0.function.name).
    rejects400({ input: [] }, 'input');
    rejects400({ tools: [{ type: 'function' }] }, 'tools[0].name');
    assert.doesNotThrow(() => chat({ store: false, include: ['message.output_text.logprobs'], truncation: 'disabled' }));
  });

  test('builds a spec-valid Response from a chat completion with text and tool calls, incomplete at the length limit', () => {
    const req = { model: 'm', input: 'x', tools: [] } as ResponsesRequest;
    const res = chatToResponse(
      req,
      {
        id: 'chatcmpl-abc',
        created: 1700000000,
        model: 'backend-m',
        choices: [{ finish_reason: 'length', message: { content: 'partial', tool_calls: [{ id: 'call_1', function: { name: 'f', arguments: '{' } }] } }],
      },
      { promptTokens: 3, completionTokens: 4, cachedTokens: 1 },
    );
    assertMatchesSpec('Response', res);
    assert.equal(res.id, 'resp_abc');
    assert.equal(res.status, 'incomplete');
    assert.deepEqual(res.incomplete_details, { reason: 'max_output_tokens' });
    assert.deepEqual((res.output as Array<{ type: string }>).map((o) => o.type), ['message', 'function_call']);
    assert.deepEqual(res.usage, { input_tokens: 3, input_tokens_details: { cached_tokens: 1, cache_write_tokens: 0 }, output_tokens: 4, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 7 });
  });

  test('turns chat chunks into numbered events, closing the message and completing with usage after [DONE]', () => {
    const req = { model: 'm', input: 'x' } as ResponsesRequest;
    const chunks = [
      { id: 'chatcmpl-1', created: 1, model: 'b', choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] },
      { id: 'chatcmpl-1', choices: [{ index: 0, delta: { content: 'Hel' } }] },
      { id: 'chatcmpl-1', choices: [{ index: 0, delta: { content: 'lo' }, finish_reason: 'stop' }] },
      { id: 'chatcmpl-1', choices: [], usage: { prompt_tokens: 2, completion_tokens: 2 } },
    ];
    const t2 = new ChatToResponsesStream(req);
    let out = '';
    for (const c of chunks) out += t2.event(JSON.stringify(c)) ?? '';
    assert.equal(t2.done, false);
    t2.event('[DONE]');
    assert.equal(t2.done, true);
    const tail = t2.finish()!;
    const events = (out + tail)
      .split('\n\n')
      .filter(Boolean)
      .map((f) => JSON.parse(f.split('\n')[1]!.slice('data: '.length)) as { type: string; delta?: string; sequence_number: number });
    assert.deepEqual(events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta), ['Hel', 'lo']);
    assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
    assert.deepEqual(events.slice(-4).map((e) => e.type), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
    assert.deepEqual(t2.usage(), { promptTokens: 2, completionTokens: 2, cachedTokens: 0 });
  });

  test('translates reasoning_content into a reasoning item and reasoning_text events, each matching the spec', () => {
    const req = { model: 'm', input: 'x' } as ResponsesRequest;
    const res = chatToResponse(req, { id: 'chatcmpl-r', choices: [{ finish_reason: 'stop', message: { reasoning_content: 'think', content: 'answer' } }] }, null);
    assertMatchesSpec('Response', res);
    assert.deepEqual((res.output as Array<Record<string, unknown>>)[0], { id: 'rs_r', type: 'reasoning', summary: [], content: [{ type: 'reasoning_text', text: 'think' }], status: 'completed' });

    const t = new ChatToResponsesStream(req);
    let out = '';
    for (const delta of [{ reasoning_content: 'th' }, { reasoning_content: 'ink' }, { content: 'ans' }, { content: 'wer' }]) {
      out += t.event(JSON.stringify({ id: 'chatcmpl-r', choices: [{ index: 0, delta }] })) ?? '';
    }
    out += t.event(JSON.stringify({ id: 'chatcmpl-r', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })) ?? '';
    t.event('[DONE]');
    out += t.finish();
    const schemas: Record<string, string> = {
      'response.created': 'ResponseCreatedEvent',
      'response.in_progress': 'ResponseInProgressEvent',
      'response.output_item.added': 'ResponseOutputItemAddedEvent',
      'response.output_item.done': 'ResponseOutputItemDoneEvent',
      'response.reasoning_text.delta': 'ResponseReasoningTextDeltaEvent',
      'response.reasoning_text.done': 'ResponseReasoningTextDoneEvent',
      'response.content_part.added': 'ResponseContentPartAddedEvent',
      'response.content_part.done': 'ResponseContentPartDoneEvent',
      'response.output_text.delta': 'ResponseTextDeltaEvent',
      'response.output_text.done': 'ResponseTextDoneEvent',
      'response.completed': 'ResponseCompletedEvent',
    };
    const events = out
      .split('\n\n')
      .filter(Boolean)
      .map((f) => JSON.parse(f.split('\n')[1]!.slice('data: '.length)) as { type: string; text?: string; response?: { output: Array<{ type: string }> } });
    for (const ev of events) assertMatchesSpec(schemas[ev.type]!, ev);
    assert.deepEqual(events.map((e) => e.type).slice(2, 9), [
      'response.output_item.added',
      'response.content_part.added',
      'response.reasoning_text.delta',
      'response.reasoning_text.delta',
      'response.reasoning_text.done',
      'response.content_part.done',
      'response.output_item.done',
    ]);
    // The OpenAI SDK's accumulator (ResponseStream) must be able to follow the stream: it needs the part opened.
    let snapshot: Record<string, unknown> | undefined;
    for (const ev of events) snapshot = accumulateResponse(ev as never, snapshot as never) as unknown as Record<string, unknown>;
    assert.deepEqual((snapshot!.output as Array<{ content: unknown }>)[0]!.content, [{ type: 'reasoning_text', text: 'think' }]);
    assert.equal(events.find((e) => e.type === 'response.reasoning_text.done')?.text, 'think');
    assert.deepEqual(events.at(-1)!.response!.output.map((o) => o.type), ['reasoning', 'message']);
  });

  test('an engine finish reason the chat relay maps to length or content_filter ends the Response incomplete, with that reason', () => {
    const req = { model: 'm', input: 'x' } as ResponsesRequest;
    const cases: Array<[string, string | null]> = [['max_tokens', 'max_output_tokens'], ['model_length', 'max_output_tokens'], ['length', 'max_output_tokens'], ['content_filter', 'content_filter'], ['safety', 'content_filter'], ['eos_token', null], ['stop', null]];
    for (const [finish, reason] of cases) {
      const res = chatToResponse(req, { id: 'chatcmpl-f', choices: [{ finish_reason: finish, message: { content: 'cut' } }] }, { promptTokens: 1, completionTokens: 1, cachedTokens: 0 });
      assertMatchesSpec('Response', res);
      assert.equal(res.status, reason ? 'incomplete' : 'completed', finish);
      assert.deepEqual(res.incomplete_details, reason ? { reason } : null, finish);

      const t = new ChatToResponsesStream(req);
      t.event(JSON.stringify({ id: 'chatcmpl-f', choices: [{ index: 0, delta: { content: 'cut' } }] }));
      t.event(JSON.stringify({ id: 'chatcmpl-f', choices: [{ index: 0, delta: {}, finish_reason: finish }] }));
      t.event('[DONE]');
      const last = JSON.parse(t.finish()!.split('\n\n').filter(Boolean).at(-1)!.split('\n')[1]!.slice('data: '.length)) as { type: string; response: Record<string, unknown> };
      assert.equal(last.type, reason ? 'response.incomplete' : 'response.completed', finish);
      assert.deepEqual(last.response.incomplete_details, reason ? { reason } : null, finish);
    }
  });

  test('reports the reasoning tokens the backend counted among the output tokens, streamed and not', () => {
    const req = { model: 'm', input: 'x' } as ResponsesRequest;
    const usage = { prompt_tokens: 5, completion_tokens: 9, completion_tokens_details: { reasoning_tokens: 6 } };
    const res = chatToResponse(req, { id: 'chatcmpl-u', choices: [{ finish_reason: 'stop', message: { reasoning_content: 'think', content: 'ok' } }], usage }, { promptTokens: 5, completionTokens: 9, cachedTokens: 0 });
    assertMatchesSpec('Response', res);
    assert.deepEqual((res.usage as Record<string, unknown>).output_tokens_details, { reasoning_tokens: 6 });

    const t = new ChatToResponsesStream(req);
    t.event(JSON.stringify({ id: 'chatcmpl-u', choices: [{ index: 0, delta: { reasoning_content: 'think' } }] }));
    t.event(JSON.stringify({ id: 'chatcmpl-u', choices: [{ index: 0, delta: { content: 'ok' }, finish_reason: 'stop' }] }));
    t.event(JSON.stringify({ id: 'chatcmpl-u', choices: [], usage }));
    t.event('[DONE]');
    const last = JSON.parse(t.finish()!.split('\n\n').filter(Boolean).at(-1)!.split('\n')[1]!.slice('data: '.length)) as { type: string; response: { usage: Record<string, unknown> } };
    assertMatchesSpec('ResponseCompletedEvent', last);
    assert.deepEqual(last.response.usage.output_tokens_details, { reasoning_tokens: 6 });
  });
});
