import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendAbsent, applyEdits, topLevelSpans } from '../../src/api/json-splice.js';

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
  assert.equal(src.toString('utf8', spans.get('model')![0]!.valueStart, spans.get('model')![0]!.valueEnd), '"x"');
  assert.equal(src.toString('utf8', spans.get('b')![0]!.valueStart, spans.get('b')![0]!.valueEnd), '[1,{"c":"]"}]');
});

test('returns the same buffer when there is nothing to edit', () => {
  const b = Buffer.from('{"model":"m"}');
  assert.equal(applyEdits(b, []), b);
});

/** A small deterministic generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Generated {
  body: Buffer;
  /** Each top-level member as written: the key's raw bytes between its quotes, decoded as latin1, and where its value is. */
  members: { rawKey: string; valueStart: number; valueEnd: number }[];
}

/** JSON object texts with the spacing, escapes, nesting and near-miss keys a client may send, and where each member is. */
function generatedBodies(n: number): Generated[] {
  const r = rng(7);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const ws = () => pick(['', '', ' ', '\n  ', '\t', ' \r\n']);
  const KEYS = ['model', 'modes', 'mode', 'messages', 'stream', 'stream_options', 'stream_optionz', 'stream\\u005foptions', 'encoding_format', 'é', 'mod\\"el', 'x'];
  const VALUES = ['"m"', '1', '-0.10e3', '18446744073709551615', 'true', 'null', '"a \\"model\\": {}"', '[1,{"model":"n"}]', '{"stream_options":{}}', '"}{]["', '{}', '[]', '"😀"'];
  const out: Generated[] = [];
  for (let i = 0; i < n; i++) {
    const parts: Buffer[] = [Buffer.from(`${ws()}{`)];
    let at = parts[0]!.length;
    const add = (text: string) => {
      const b = Buffer.from(text);
      parts.push(b);
      at += b.length;
    };
    const members: Generated['members'] = [];
    const count = Math.floor(r() * 6);
    for (let m = 0; m < count; m++) {
      const key = pick(KEYS);
      add(`${m > 0 ? ',' : ''}${ws()}"`);
      const rawKey = Buffer.from(key).toString('latin1');
      add(`${key}"${ws()}:${ws()}`);
      const valueStart = at;
      add(pick(VALUES));
      members.push({ rawKey, valueStart, valueEnd: at });
      add(ws());
    }
    add(`${count ? '' : ws()}}${ws()}`);
    out.push({ body: Buffer.concat(parts), members });
  }
  return out;
}

test('appending a key the parsed body lacks gives the bytes of the general edit, for generated bodies', () => {
  const member = Buffer.from('"stream_options":{"include_usage":true}');
  let appended = 0;
  for (const { body } of generatedBodies(5_000)) {
    if (JSON.parse(body.toString()).stream_options !== undefined) continue;
    appended++;
    const general = applyEdits(body, [{ key: 'stream_options', value: '{"include_usage":true}' }]);
    assert.deepEqual(appendAbsent(body, member), general, body.toString());
    assert.equal(JSON.parse(general.toString()).stream_options.include_usage, true);
  }
  assert.ok(appended > 1_000, `${appended}`);
});

/** The key a member names, as JSON.parse (and Python's json) read it: escapes decoded. Raw keys are latin1 of UTF-8. */
const keyOf = (rawKey: string) => (rawKey.includes('\\') ? (JSON.parse(`"${rawKey}"`) as string) : rawKey);

test('a wanted key is found at every member that names it, escapes decoded, for generated bodies', () => {
  const keys = ['model', 'stream_options', 'encoding_format', Buffer.from('é').toString('latin1'), 'mod"el'];
  for (const { body, members } of generatedBodies(5_000)) {
    const expected = new Map<string, { valueStart: number; valueEnd: number }[]>();
    for (const m of members) {
      const k = keyOf(m.rawKey);
      if (keys.includes(k)) expected.set(k, [...(expected.get(k) ?? []), { valueStart: m.valueStart, valueEnd: m.valueEnd }]);
    }
    assert.deepEqual(topLevelSpans(body, keys), expected, body.toString());
  }
});

test('an edited key spelled with escapes or repeated is replaced everywhere: the backend reads the value the gateway wrote', () => {
  // JSON.parse and Python read `"max_tok\u0065ns":null` as max_tokens: null; the gateway's cap on the raw-spelled key
  // alone left the backend uncapped, and a model rename on the first `model` left a first-wins parser the client's.
  const body = Buffer.from('{"max_tokens":5,"model":"a","messages":[],"max_tok\\u0065ns":null,"model":"b"}');
  const out = applyEdits(body, [
    { key: 'max_tokens', value: '1024' },
    { key: 'model', value: '"backend-b"' },
  ]);
  assert.equal(out.toString(), '{"max_tokens":1024,"model":"backend-b","messages":[],"max_tok\\u0065ns":1024,"model":"backend-b"}');
  assert.equal(JSON.parse(out.toString()).max_tokens, 1024);
  const appended = applyEdits(Buffer.from('{"stre\\u0061m_options":{"include_usage":false}}'), [{ key: 'stream_options', value: '{"include_usage":true}' }]);
  assert.deepEqual(JSON.parse(appended.toString()), { stream_options: { include_usage: true } });
});

test('edits give the bytes of a splice at the members as generated, for generated bodies and edit sets', () => {
  const r = rng(11);
  const VALUES = ['"meta-llama/Llama-3.1-8B-Instruct"', '{"include_usage":true,"x":[1]}', '"float"', '"é😀"', '0'];
  for (const { body, members } of generatedBodies(5_000)) {
    const edits = ['model', 'stream_options', 'encoding_format']
      .filter(() => r() < 0.6)
      .map((key) => ({ key, value: VALUES[Math.floor(r() * VALUES.length)]! }));
    // The oracle: every member naming an edited key (escapes decoded) has its value replaced; the other keys go
    // before the last brace.
    const named = members.filter((m) => edits.some((e) => e.key === keyOf(m.rawKey)));
    const parts: Buffer[] = [];
    let pos = 0;
    for (const m of named) {
      parts.push(body.subarray(pos, m.valueStart), Buffer.from(edits.find((e) => e.key === keyOf(m.rawKey))!.value));
      pos = m.valueEnd;
    }
    const absent = edits.filter((e) => !named.some((m) => keyOf(m.rawKey) === e.key));
    if (absent.length > 0) {
      const close = body.lastIndexOf('}');
      parts.push(body.subarray(pos, close), Buffer.from(`${members.length ? ',' : ''}${absent.map((e) => `${JSON.stringify(e.key)}:${e.value}`).join(',')}`));
      pos = close;
    }
    parts.push(body.subarray(pos));
    const expected = edits.length === 0 ? body : Buffer.concat(parts);
    assert.deepEqual(applyEdits(body, edits), expected, `${body.toString()} ${JSON.stringify(edits)}`);
  }
});
