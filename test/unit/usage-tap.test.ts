import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findUsage } from '../../src/upstream/usage-tap.js';

test('finds usage with cached tokens at the end of a body', () => {
  const body = Buffer.from('{"id":"x","choices":[{"message":{"content":"the \\"usage\\": {} word"}}],"usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15, "prompt_tokens_details": {"cached_tokens": 8}}}');
  assert.deepEqual(findUsage(body), { promptTokens: 12, completionTokens: 3, cachedTokens: 8 });
});

test('returns null for null usage or none', () => {
  assert.equal(findUsage(Buffer.from('{"usage":null}')), null);
  assert.equal(findUsage(Buffer.from('{"choices":[]}')), null);
});

test('looks only inside the given range', () => {
  const buf = Buffer.from('data: {"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\ndata: {"choices":[]}\n\n');
  const second = buf.indexOf('data: {"choices"');
  assert.equal(findUsage(buf, second, buf.length), null);
  assert.deepEqual(findUsage(buf, 0, second), { promptTokens: 1, completionTokens: 2, cachedTokens: 0 });
});

test('accepts input/output token names', () => {
  assert.deepEqual(findUsage(Buffer.from('{"usage":{"input_tokens":4,"output_tokens":5}}')), { promptTokens: 4, completionTokens: 5, cachedTokens: 0 });
});
