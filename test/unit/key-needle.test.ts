import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyNeedle, Needle } from '../../src/upstream/needles.js';
import { jsonKey, keyAt } from '../../src/upstream/json-key.js';

const usage = () => new KeyNeedle(jsonKey('usage'), 0x7b);
const finish = () => new KeyNeedle(jsonKey('finish_reason'), 0x22);

test('keyAt finds what a search for the quoted key finds, from every position', () => {
  // Bytes drawn from the key's own letters, quotes and a colon, so near misses (a tail without its quote, a quote
  // without the tail, overlapping starts) are frequent.
  const key = jsonKey('usage');
  const alphabet = Buffer.from('"usage":{}');
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 16;
  let found = 0;
  for (let n = 0; n < 2000; n++) {
    const b = Buffer.alloc(next() % 40);
    for (let i = 0; i < b.length; i++) b[i] = alphabet[next() % alphabet.length]!;
    if (n % 7 === 0 && b.length >= 7) key.bytes.copy(b, next() % (b.length - 6));
    for (let from = 0; from <= b.length; from++) {
      const want = b.indexOf(key.bytes, from);
      assert.equal(keyAt(b, key, from), want, `${b.toString()} from ${from}`);
      if (want !== -1) found++;
    }
  }
  assert.ok(found > 1000, `the inputs hold the key often enough (${found})`);
});

test('a key is found with its value kind, compact or with any JSON whitespace around the colon', () => {
  for (const text of ['{"usage":{"a":1}}', '{"usage": {"a":1}}', '{"usage" :  {"a":1}}', '{"usage"\t:\r\n{"a":1}}']) {
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

test('a Needle longer than its natively searched head finds what a search for the whole needle finds', () => {
  const bytes = Buffer.from('{"error"');
  const alphabet = Buffer.from('{"error:}');
  let seed = 777;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 16;
  let found = 0;
  for (let n = 0; n < 2000; n++) {
    const b = Buffer.alloc(next() % 40);
    for (let i = 0; i < b.length; i++) b[i] = alphabet[next() % alphabet.length]!;
    if (n % 5 === 0 && b.length >= 8) bytes.copy(b, next() % (b.length - 7));
    if (n % 3 === 0 && b.length >= 6) b.write('{"erro', b.length - 6); // the head at the very end, the rest cut off
    for (let start = 0; start <= b.length; start++) {
      for (const end of [start, Math.min(b.length, start + 9), b.length]) {
        const at = b.indexOf(bytes, start);
        const want = at !== -1 && at + bytes.length <= end;
        assert.equal(new Needle(bytes).in(b, start, end), want, `${b.toString()} [${start}, ${end})`);
        if (want) found++;
      }
    }
  }
  assert.ok(found > 1000, `the inputs hold the needle often enough (${found})`);
});
