import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixFinishReasons, openaiFinishReason } from '../../src/upstream/finish-reason.js';

test('maps engine finish reasons to OpenAI values per endpoint', () => {
  assert.equal(openaiFinishReason('stop', 'chat'), 'stop');
  assert.equal(openaiFinishReason('tool_calls', 'chat'), 'tool_calls');
  assert.equal(openaiFinishReason('abort', 'chat'), 'stop');
  assert.equal(openaiFinishReason('eos_token', 'chat'), 'stop');
  assert.equal(openaiFinishReason('max_tokens', 'chat'), 'length');
  assert.equal(openaiFinishReason('tool_use', 'chat'), 'tool_calls');
  assert.equal(openaiFinishReason('tool_calls', 'completions'), 'stop');
  assert.equal(openaiFinishReason('something_new', 'completions'), 'stop');
});

test('rewrites only non-OpenAI values, keeping the native one beside it', () => {
  const ok = Buffer.from('{"choices":[{"finish_reason":"stop"},{"finish_reason": null}]}');
  assert.equal(fixFinishReasons(ok, 0, ok.length, 'chat'), null);
  const body = Buffer.from('{"choices":[{"index":0,"finish_reason":"abort"},{"index":1,"finish_reason": "length"}],"x":"\\"finish_reason\\":\\"abort\\""}');
  const fixed = JSON.parse(fixFinishReasons(body, 0, body.length, 'chat')!.toString());
  assert.equal(fixed.choices[0].finish_reason, 'stop');
  assert.equal(fixed.choices[0].native_finish_reason, 'abort');
  assert.equal(fixed.choices[1].finish_reason, 'length');
  assert.equal(fixed.x, '"finish_reason":"abort"', 'text inside strings is never touched');
});
