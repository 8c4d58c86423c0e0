import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonText } from '../../src/core/index.js';
import { addMessageSize, renderMessage, renderTools, type PromptSize } from '../../src/usage/chat-render.js';
import { createTokenCounter } from '../../src/usage/token-counter.js';
import { renderPrompt } from '../../src/api/prompt.js';
import type { ChatRequest } from '../../src/api/wire.js';
import { promptText } from '../../src/api/anthropic/wire.js';
import { lastUserText, renderChatPrompt } from '../../src/sim/text/chat-template.js';

/**
 * The prompt renderers walk client JSON to estimate tokens. Validation keeps most odd shapes out, but an estimate
 * must never be what fails a request: every renderer is fed hostile values in every place it looks, and must return.
 */

const deep = (levels: number): unknown => JSON.parse(`${'['.repeat(levels)}${']'.repeat(levels)}`);
// Parsed from JSON, as client values are: `{"toString":1}` makes String() and template literals throw.
const HOSTILE: unknown[] = JSON.parse(
  '[null, 0, -1, 1.5, "", "text", true, false, [], [null], [[1]], [[[]]], {}, {"toString":1}, {"toString":1,"valueOf":1}, [{"toString":1}], {"type":"text","text":{"toString":1}}, {"function":null}, {"function":{"toString":1}}, {"function":{"name":{"toString":1},"arguments":[1]}}, {"type":"image_url","image_url":{"url":{"toString":1}}}, {"type":"image_url","image_url":null}]',
) as unknown[];
HOSTILE.push(deep(200_000), { function: deep(200_000) });

/** A chat message with `v` put at one of the places a renderer reads. */
function messagesWith(v: unknown): unknown[] {
  return [
    v,
    { role: v, content: 'hi' },
    { role: 'user', name: v, content: 'hi' },
    { role: 'user', content: v },
    { role: 'user', content: [v] },
    { role: 'user', content: [{ type: 'text', text: 'a' }, v, 'b'] },
    { role: 'user', content: [{ type: 'image_url', image_url: v }] },
    { role: 'user', content: [{ type: 'image_url', image_url: { url: v } }] },
    { role: 'assistant', content: null, tool_calls: v },
    { role: 'assistant', content: null, tool_calls: [v] },
    { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: v }] },
    { role: 'assistant', content: null, tool_calls: [{ function: { name: v, arguments: v } }] },
  ];
}

function toolsWith(v: unknown): unknown[][] {
  return [[v], [{ type: 'function', function: { name: 'f' } }, v], [{ type: 'function', function: v }], [{ function: { name: 'f', parameters: v } }]];
}

test('the token-estimate renderers return for hostile messages and tools, and the two sizes agree', () => {
  for (const v of HOSTILE) {
    for (const m of messagesWith(v)) {
      const rendered = renderMessage(m);
      const size: PromptSize = { chars: 0, fixed: 0 };
      addMessageSize(m, size);
      if (size.chars !== rendered.text.length || size.fixed !== rendered.fixed) assert.fail(`sizes disagree on ${jsonText(m).slice(0, 200)}`);
    }
    for (const tools of toolsWith(v)) renderTools(tools);
    renderTools(v as unknown[]);
  }
});

test('renderTools counts object items only: a null among the tools is skipped, not read', () => {
  const one = renderTools([{ type: 'function', function: { name: 'f' } }]);
  assert.deepEqual(renderTools([null, { type: 'function', function: { name: 'f' } }, 7, 'x', [[]]]), one);
  assert.deepEqual(renderTools([null]), { text: '', fixed: 0 });
  assert.deepEqual(renderTools([{ function: deep(200_000) }]).text, '');
});

test('token counting (tokenizer or characters) returns for hostile messages and tools', () => {
  const counter = createTokenCounter();
  for (const v of HOSTILE) {
    for (const model of ['gpt-4o', 'sim-llama-8b']) {
      const messages = messagesWith(v);
      for (const tools of toolsWith(v)) assert.ok(counter.countChatPrompt(model, messages, tools).tokens > 0);
    }
  }
});

test('the routing prompt renderers (chat, Anthropic Messages, the simulator template) return for hostile values', () => {
  for (const v of HOSTILE) {
    const messages = messagesWith(v);
    for (const tools of [...toolsWith(v), undefined]) {
      assert.equal(typeof renderPrompt('chat', { model: 'm', messages, tools } as unknown as ChatRequest), 'string');
      const asAnthropic = messages.map((m) => (m && typeof m === 'object' ? m : { role: 'user', content: m }));
      assert.equal(typeof promptText({ model: 'm', system: [v] as never, messages: asAnthropic as never, tools: tools as never }), 'string');
      assert.equal(typeof renderChatPrompt(messages as Record<string, unknown>[], tools), 'string');
      assert.equal(typeof lastUserText(messages as Record<string, unknown>[]), 'string');
    }
  }
});

test('image URLs and bare string parts still reach the routing prompt', () => {
  const req = { model: 'm', messages: [{ role: 'user', content: ['look: ', { type: 'image_url', image_url: { url: 'http://x/a.png' } }] }] };
  assert.equal(renderPrompt('chat', req as unknown as ChatRequest), '<|user|>\nlook: http://x/a.png\n');
});
