import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findUsage, usageFromJson } from '../../src/upstream/usage-tap.js';
import { UsageReader } from '../../src/upstream/usage-read.js';
import { closingBracket } from '../../src/core/index.js';

/** A seeded generator, so a failure names the case that reproduces it. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

const KEYS = [
  'prompt_tokens',
  'completion_tokens',
  'total_tokens',
  'input_tokens',
  'output_tokens',
  'prompt_tokens_details',
  'input_tokens_details',
  'completion_tokens_details',
  'cached_tokens',
  'reasoning_tokens',
  'cache_read_input_tokens',
  'cache_creation_input_tokens',
  'x',
];

function value(r: () => number, depth: number): string {
  const k = Math.floor(r() * 16);
  switch (k) {
    case 0: case 1: case 2: case 3: return String(Math.floor(r() * 100000));
    case 4: return String(Math.floor(r() * 1e17)); // beyond 15 digits
    case 5: return (r() * 100).toFixed(2);
    case 6: return '-' + String(Math.floor(r() * 50));
    case 7: return 'null';
    case 8: return r() < 0.5 ? 'true' : 'false';
    case 9: return JSON.stringify(r() < 0.5 ? 'text' : 'é "quoted" \\ and \n');
    case 10: return '[1,2]';
    case 11: return ['01', '007', '00'][Math.floor(r() * 3)]!; // leading zeros: not JSON
    case 12: return ['1e3', '2E2', '5e-1', '7E+0'][Math.floor(r() * 4)]!;
    case 13: return ['"a\u0001b"', '"tab\there"', '"nl\nx"'][Math.floor(r() * 3)]!; // raw control bytes in a string: not JSON
    default: return depth < 2 ? object(r, depth + 1) : '0';
  }
}

function ws(r: () => number): string {
  return r() < 0.7 ? '' : [' ', '\n', '\t', '\r', '  '][Math.floor(r() * 5)]!;
}

function object(r: () => number, depth: number): string {
  const n = Math.floor(r() * 6);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(`${ws(r)}"${KEYS[Math.floor(r() * KEYS.length)]}"${ws(r)}:${ws(r)}${value(r, depth)}${ws(r)}`);
  return `{${parts.join(',')}${ws(r)}}`;
}

/** Byte-level damage JSON.parse must refuse, or changes it must read the same way. */
function mutate(r: () => number, s: string): string {
  const at = 1 + Math.floor(r() * Math.max(1, s.length - 2));
  const bad = ['', ',', ':', '"', '{', '}', '01', '1.', 'nul', '\u0001', ' '][Math.floor(r() * 11)]!;
  return s.slice(0, at) + bad + s.slice(at + (r() < 0.5 ? 1 : 0));
}

const USAGE_AT = '{"id":"x",'.length;

test('the byte reader of usage objects agrees with JSON.parse on 30,000 generated objects', () => {
  const r = rng(12345);
  let fast = 0;
  let compared = 0;
  const reader = new UsageReader();
  for (let n = 0; n < 30_000; n++) {
    let text = object(r, 0);
    if (r() < 0.3) text = mutate(r, text);
    const body = Buffer.from(`{"id":"x","usage":${text}}`);
    const open = USAGE_AT + 8;
    const close = body.length - 2;
    const expected = body[close] === 0x7d ? usageFromJson(body.toString('utf8', open, close + 1)) : null;
    const got = findUsage(body);
    // findUsage finds the object's end by bracket matching; damage can move it, and then it reads another span.
    if (body[close] === 0x7d && closingBracket(body, open) === close) {
      assert.deepEqual(got, expected, `case ${n}: ${text}`);
      compared++;
    }
    if (reader.read(body, open, close)) fast++;
  }
  assert.ok(compared > 25_000, `compared ${compared}`);
  // About a third of the generated objects hold nothing the reader declines (arrays, fractions, escapes, damage).
  assert.ok(fast > 5_000, `the fast path read ${fast} of 30,000`);
});

test('the usual engine usage objects are read without JSON.parse', () => {
  const reader = new UsageReader();
  const shapes = [
    '{"prompt_tokens":12,"total_tokens":28,"completion_tokens":16,"prompt_tokens_details":null}',
    '{"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21, "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}',
    '{"input_tokens":4,"output_tokens":5,"total_tokens":9}',
  ];
  for (const s of shapes) {
    const b = Buffer.from(s);
    assert.equal(reader.read(b, 0, b.length - 1), true, s);
  }
  const b = Buffer.from(shapes[1]!);
  reader.read(b, 0, b.length - 1);
  assert.deepEqual({ ...reader.f }, { prompt: 9, input: -1, completion: 12, output: -1, cached: 0, inputCached: -1, cacheRead: -1, cacheCreation: -1 });
});

test('duplicate keys and replaced details read as JSON.parse reads them (the last one wins)', () => {
  const cases: Array<[string, ReturnType<typeof findUsage>]> = [
    ['{"prompt_tokens":5,"prompt_tokens":"x","input_tokens":3}', { promptTokens: 3, completionTokens: 0, cachedTokens: 0 }],
    ['{"prompt_tokens":5,"prompt_tokens_details":{"cached_tokens":4},"prompt_tokens_details":{}}', { promptTokens: 5, completionTokens: 0, cachedTokens: 0 }],
    ['{"prompt_tokens":5,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"cached_tokens":9}}', { promptTokens: 5, completionTokens: 0, cachedTokens: 4 }],
    ['{"prompt_tokens":5,"prompt_tokens_details":{"cached_tokens":4},"prompt_tokens_details":7}', { promptTokens: 5, completionTokens: 0, cachedTokens: 0 }],
    ['{"completion_tokens":5}', null],
  ];
  for (const [s, want] of cases) {
    assert.deepEqual(findUsage(Buffer.from(`{"usage":${s}}`)), want, s);
    assert.deepEqual(usageFromJson(s), want, `reference: ${s}`);
  }
});

test("Anthropic's usage counts the whole prompt: input_tokens plus what was read from and written to the cache", () => {
  const cases: Array<[string, ReturnType<typeof findUsage>]> = [
    // llama.cpp: input_tokens is the prompt less its cached prefix.
    ['{"cache_read_input_tokens":900,"input_tokens":100,"output_tokens":7}', { promptTokens: 1000, completionTokens: 7, cachedTokens: 900 }],
    ['{"input_tokens":10,"cache_creation_input_tokens":30,"cache_read_input_tokens":0,"output_tokens":2}', { promptTokens: 40, completionTokens: 2, cachedTokens: 0 }],
    ['{"input_tokens":21,"output_tokens":16}', { promptTokens: 21, completionTokens: 16, cachedTokens: 0 }],
    ['{"input_tokens":21,"cache_read_input_tokens":null,"output_tokens":1}', { promptTokens: 21, completionTokens: 1, cachedTokens: 0 }],
    // OpenAI's shapes keep their meaning: prompt_tokens already holds the cached part.
    ['{"prompt_tokens":50,"cache_read_input_tokens":40,"completion_tokens":1}', { promptTokens: 50, completionTokens: 1, cachedTokens: 0 }],
  ];
  for (const [s, want] of cases) {
    assert.deepEqual(findUsage(Buffer.from(`{"usage":${s}}`)), want, s);
    assert.deepEqual(usageFromJson(s), want, `reference: ${s}`);
  }
});

test("the Responses API's cached count (input_tokens_details.cached_tokens) is read as chat's is", () => {
  const cases: Array<[string, ReturnType<typeof findUsage>]> = [
    ['{"input_tokens":50,"input_tokens_details":{"cached_tokens":40},"output_tokens":1,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":51}', { promptTokens: 50, completionTokens: 1, cachedTokens: 40 }],
    ['{"input_tokens":50,"input_tokens_details":{"cached_tokens":40,"cache_write_tokens":0},"output_tokens":1}', { promptTokens: 50, completionTokens: 1, cachedTokens: 40 }],
    ['{"input_tokens":50,"input_tokens_details":{"cached_tokens":40},"input_tokens_details":{},"output_tokens":1}', { promptTokens: 50, completionTokens: 1, cachedTokens: 0 }],
    ['{"input_tokens":50,"input_tokens_details":null,"output_tokens":1}', { promptTokens: 50, completionTokens: 1, cachedTokens: 0 }],
    // Both spellings: chat's wins, whichever comes first.
    ['{"input_tokens_details":{"cached_tokens":3},"prompt_tokens":50,"prompt_tokens_details":{"cached_tokens":4}}', { promptTokens: 50, completionTokens: 0, cachedTokens: 4 }],
    ['{"prompt_tokens":50,"prompt_tokens_details":{"cached_tokens":4},"input_tokens_details":{"cached_tokens":3}}', { promptTokens: 50, completionTokens: 0, cachedTokens: 4 }],
  ];
  for (const [s, want] of cases) {
    assert.deepEqual(findUsage(Buffer.from(`{"usage":${s}}`)), want, s);
    assert.deepEqual(usageFromJson(s), want, `reference: ${s}`);
  }
});
