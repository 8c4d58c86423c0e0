import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyEdits, topLevelSpans } from '../../src/api/json-splice.js';

test('rewrites only the model value and keeps every other byte, big integers included', () => {
  const body = Buffer.from('{ "seed": 18446744073709551615, "model" : "public-name", "x": {"model": "nested"}, "t": 0.10 }');
  const out = applyEdits(body, [{ key: 'model', value: JSON.stringify('meta-llama/Llama-3.1-8B-Instruct') }]);
  assert.equal(out.toString(), '{ "seed": 18446744073709551615, "model" : "meta-llama/Llama-3.1-8B-Instruct", "x": {"model": "nested"}, "t": 0.10 }');
});

test('appends a missing key before the closing brace', () => {
  const out = applyEdits(Buffer.from('{"model":"m","stream":true}\n'), [{ key: 'stream_options', value: '{"include_usage":true}' }]);
  assert.deepEqual(JSON.parse(out.toString()), { model: 'm', stream: true, stream_options: { include_usage: true } });
  assert.ok(out.toString().startsWith('{"model":"m","stream":true,"stream_options"'));
});

test('replaces and appends in one pass', () => {
  const src = '{"messages":[{"role":"user","content":"a \\"model\\": {}"}],"model":"a","encoding_format":"base64"}';
  const out = applyEdits(Buffer.from(src), [
    { key: 'model', value: '"b"' },
    { key: 'encoding_format', value: '"float"' },
    { key: 'stream_options', value: '{"include_usage":true}' },
  ]);
  const parsed = JSON.parse(out.toString());
  assert.equal(parsed.model, 'b');
  assert.equal(parsed.encoding_format, 'float');
  assert.equal(parsed.messages[0].content, 'a "model": {}');
  assert.deepEqual(parsed.stream_options, { include_usage: true });
});

test('finds spans after strings holding braces, escapes and unicode', () => {
  const src = Buffer.from('{"a":"}{\\"\\\\","b":[1,{"c":"]"}],"é":1,"model":"x"}');
  const spans = topLevelSpans(src, ['model', 'b']);
  assert.equal(src.toString('utf8', spans.get('model')!.valueStart, spans.get('model')!.valueEnd), '"x"');
  assert.equal(src.toString('utf8', spans.get('b')!.valueStart, spans.get('b')!.valueEnd), '[1,{"c":"]"}]');
});

test('returns the same buffer when there is nothing to edit', () => {
  const b = Buffer.from('{"model":"m"}');
  assert.equal(applyEdits(b, []), b);
});
