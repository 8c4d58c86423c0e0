import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { z } from 'zod';
import { GatewayError } from '../../src/core/index.js';
import { countRequest, messagesRequest, promptText } from '../../src/api/anthropic/wire.js';
import { validateWith } from '../../src/api/wire.js';

const base = { model: 'm', max_tokens: 3, messages: [{ role: 'user', content: 'x' }] };

function refused(body: Record<string, unknown>, schema: z.ZodType = messagesRequest): GatewayError {
  try {
    validateWith(schema, body);
  } catch (err) {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.status, 400);
    return err;
  }
  return assert.fail(`accepted ${JSON.stringify(body)}`);
}

test('a malformed system is a 400 naming the block or field at fault', () => {
  const cases: Array<[unknown, string, RegExp]> = [
    [[null], 'system[0]', /expected an object, but got null/],
    [[1], 'system[0]', /expected an object, but got an integer/],
    [['text'], 'system[0]', /expected an object, but got a string/],
    [[{ type: 'text' }], 'system[0].text', /Missing required parameter/],
    [[{ type: 'text', text: { toString: 1 } }], 'system[0].text', /expected a string, but got an object/],
    [[{ type: 'image', source: {} }], 'system[0].type', /expected one of "text"/],
    [5, 'system', /expected a string or an array, but got an integer/],
  ];
  for (const [system, param, message] of cases) {
    for (const schema of [messagesRequest, countRequest]) {
      const err = refused({ ...base, system }, schema);
      assert.equal(err.param, param, JSON.stringify(system));
      assert.match(err.message, message);
    }
  }
});

test('malformed content blocks and tools are 400s naming the item', () => {
  const content = (blocks: unknown[]) => ({ ...base, messages: [{ role: 'user', content: blocks }] });
  assert.equal(refused(content([null])).param, 'messages[0].content[0]');
  assert.equal(refused(content([{ type: 'text', text: 'a' }, 7])).param, 'messages[0].content[1]');
  assert.equal(refused(content([{ text: 'a' }])).param, 'messages[0].content[0].type');
  assert.equal(refused(content([{ type: 'text', text: ['a'] }])).param, 'messages[0].content[0].text');
  assert.equal(refused({ ...base, tools: [null] }).param, 'tools[0]');
  assert.equal(refused({ ...base, tools: [{ input_schema: {} }] }).param, 'tools[0].name');
  const deep = JSON.parse(`${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`) as unknown;
  assert.equal(refused({ ...base, tools: [{ name: 'f', input_schema: deep }] }).param, 'tools');
});

test('the shapes Anthropic clients send are accepted, and their text reaches the prompt', () => {
  const body = {
    ...base,
    system: [{ type: 'text' as const, text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'Weather?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AA==' } }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'text', text: 'sunny' }] }] },
    ],
    tools: [{ name: 'get_weather', input_schema: { type: 'object' } }],
  };
  assert.equal(validateWith(messagesRequest, body), body);
  assert.equal(validateWith(messagesRequest, { ...base, system: 'Be brief.' }).system, 'Be brief.');
  const text = promptText(body);
  assert.match(text, /<\|system\|>\nBe brief\./);
  assert.match(text, /<\|user\|>\nWeather\?/);
  assert.match(text, /get_weather/);
});
