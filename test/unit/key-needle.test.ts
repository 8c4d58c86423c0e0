import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyNeedle } from '../../src/upstream/relay.js';

const usage = () => new KeyNeedle(Buffer.from('"usage"'), 0x7b);
const finish = () => new KeyNeedle(Buffer.from('"finish_reason"'), 0x22);

test('a key is found with its value kind, compact or spaced around the colon', () => {
  for (const text of ['{"usage":{"a":1}}', '{"usage": {"a":1}}', '{"usage" :  {"a":1}}']) {
    const b = Buffer.from(text);
    assert.equal(usage().in(b, 0, b.length), true, text);
  }
  for (const text of ['{"usage":null}', '{"usage": 3}', '{"usages":{}}', '{"x":"usage"}']) {
    const b = Buffer.from(text);
    assert.equal(usage().in(b, 0, b.length), false, text);
  }
  const f = Buffer.from('{"finish_reason": "stop"}');
  assert.equal(finish().in(f, 0, f.length), true);
  const n = Buffer.from('{"finish_reason":null}');
  assert.equal(finish().in(n, 0, n.length), false);
});

test('events of one chunk, visited in order: the match belongs to the event that holds it, past a non-matching one', () => {
  const e1 = 'data: {"choices":[{"finish_reason":null}],"usage":null}\n\n';
  const e2 = 'data: {"choices":[{"finish_reason":"stop"}]}\n\n';
  const e3 = 'data: {"choices":[],"usage": {"prompt_tokens":1}}\n\n';
  const b = Buffer.from(e1 + e2 + e3);
  const u = usage();
  const f = finish();
  const s2 = e1.length;
  const s3 = s2 + e2.length;
  assert.deepEqual([u.in(b, 0, s2), f.in(b, 0, s2)], [false, false]);
  assert.deepEqual([u.in(b, s2, s3), f.in(b, s2, s3)], [false, true]);
  assert.deepEqual([u.in(b, s3, b.length), f.in(b, s3, b.length)], [true, false]);
});
