import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { z } from 'zod';
import { GatewayError } from '../../src/core/index.js';
import { chatRequest, completionRequest, embeddingRequest, MAX_TOOLS_DEPTH, validateRequest, validateWith, type OpenAIEndpoint } from '../../src/api/wire.js';
import { shapeChecks } from '../../src/api/wire-fast.js';

const SCHEMAS: Record<OpenAIEndpoint, z.ZodType> = { chat: chatRequest, completions: completionRequest, embeddings: embeddingRequest };
const FAST = shapeChecks({ maxModelName: 256, maxToolsDepth: MAX_TOOLS_DEPTH });

/** A small deterministic generator (mulberry32), so a failure names a seed that reproduces it. */
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

const ABSENT = Symbol('absent');
type Gen = (r: () => number) => unknown;
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const oneOf = (...gens: Gen[]): Gen => (r) => pick(r, gens)(r);
/** Mostly a valid value, so that whole bodies come out valid often enough to test that side too. */
const mostly = (valid: Gen, ...others: Gen[]): Gen => (r) => (r() < 0.8 ? valid(r) : pick(r, others)(r));
const listOf = (gen: Gen, max = 4): Gen => (r) => Array.from({ length: Math.floor(r() * (max + 1)) }, () => gen(r));
const nested = (depth: number): unknown => (depth === 0 ? 1 : [nested(depth - 1)]);
/** A tool of `depth` levels (an object, as tools are, around arrays). */
const nestedTool = (depth: number): unknown => ({ a: nested(depth - 1) });

// Edge values of every JSON type (and a few only JavaScript can make), each a likely border of a zod check.
const NUMBERS = [0, -0, 1, 7, 64, -1, 0.5, 1.5, 2 ** 53 - 1, 2 ** 53, 1e20, -1e20, Number.MAX_VALUE, Infinity, -Infinity, NaN];
const STRINGS = ['', 'a', 'user', 'sim-llama-8b', 'x'.repeat(256), 'x'.repeat(257), 'é'.repeat(200), '😀'.repeat(128), '😀'.repeat(129)];
const num: Gen = (r) => pick(r, NUMBERS);
const str: Gen = (r) => pick(r, STRINGS);
const bool: Gen = (r) => r() < 0.5;
const scalar: Gen = oneOf(num, str, bool, () => null);
const anything: Gen = oneOf(scalar, listOf(scalar, 3), () => ({}), () => ({ a: 1 }), () => ABSENT);
const tokenIds: Gen = oneOf(listOf(oneOf(() => 1, () => 50256, () => 0), 4), listOf(num, 3), listOf(anything, 2));

const content: Gen = oneOf(str, () => null, () => ABSENT, listOf(oneOf(() => ({ type: 'text', text: 'hi' }), anything), 2), () => [null], () => ['hi', { type: 'text', text: 'x' }], num, bool, () => ({ text: 'x' }));
const message: Gen = (r) =>
  r() < 0.05 ? anything(r) : build(r, { role: mostly(oneOf(() => 'user', () => 'system'), str, anything), content: mostly(oneOf(() => 'hi', () => null, () => ABSENT), content), name: oneOf(() => ABSENT, str) });
const messages: Gen = mostly(oneOf(listOf(message, 3), (r) => [message(r)]), () => [], anything, () => ABSENT);
const tools: Gen = oneOf(
  () => ABSENT,
  () => ABSENT,
  () => ABSENT,
  () => null,
  () => [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'string' } } } } }],
  () => [],
  () => [nestedTool(MAX_TOOLS_DEPTH - 1)],
  () => [nestedTool(MAX_TOOLS_DEPTH)],
  () => [nested(3)],
  () => [null],
  (r) => [{ type: 'function', function: { name: 'f' } }, scalar(r)],
  listOf(anything, 2),
  anything,
);
const count: Gen = mostly(oneOf(() => ABSENT, () => null, () => 16, () => 1, () => 0), num, anything);
const streamOptions: Gen = oneOf(() => ABSENT, () => ABSENT, () => ABSENT, () => null, () => ({ include_usage: true }), () => ({ include_usage: false, other: 1 }), () => ({}), (r) => ({ include_usage: anything(r) }), anything);
const optionalText: Gen = mostly(oneOf(() => ABSENT, () => null, () => 'u'), str, anything);
const model: Gen = mostly(() => 'sim-llama-8b', str, anything);

/** An object of the generated fields, leaving out the ones that came out ABSENT. */
function build(r: () => number, fields: Record<string, Gen>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, gen] of Object.entries(fields)) {
    const v = gen(r);
    if (v !== ABSENT) out[k] = v;
  }
  return out;
}

const common = { model, stream: mostly(oneOf(() => ABSENT, bool, () => null), anything), stream_options: streamOptions, user: optionalText, prompt_cache_key: optionalText, extra: anything };
const BODIES: Record<OpenAIEndpoint, Gen> = {
  chat: (r) => build(r, { ...common, messages, max_tokens: count, max_completion_tokens: count, tools }),
  completions: (r) => build(r, { ...common, prompt: oneOf(str, listOf(str, 3), tokenIds, listOf(tokenIds, 2), anything), max_tokens: count }),
  embeddings: (r) =>
    build(r, { model, input: oneOf(str, listOf(str, 3), tokenIds, listOf(tokenIds, 2), anything), encoding_format: oneOf(() => 'float', () => 'base64', () => ABSENT, () => null, str, anything), user: optionalText }),
};

/** What validation answers for a body: the same object back, or the refusal the client would see. */
function outcome(run: () => unknown, body: unknown): unknown {
  try {
    const got = run();
    assert.equal(got, body, 'validation returns the client body itself');
    return 'accepted';
  } catch (err) {
    assert.ok(err instanceof GatewayError);
    return { code: err.code, status: err.status, message: err.message, param: err.param, wireCode: err.wireCode };
  }
}

for (const endpoint of ['chat', 'completions', 'embeddings'] as const) {
  test(`${endpoint}: the zod-free check accepts only bodies zod accepts, and validation answers as zod alone would`, () => {
    const r = rng(0x5eed + endpoint.length);
    let fastAccepted = 0;
    let zodAccepted = 0;
    for (let i = 0; i < 10_000; i++) {
      const body = BODIES[endpoint](r);
      const zodOk = SCHEMAS[endpoint].safeParse(body).success;
      const fast = FAST[endpoint](body as Record<string, unknown>);
      if (fast) assert.ok(zodOk, `the fast check accepted what zod refuses: ${JSON.stringify(body)}`);
      fastAccepted += fast ? 1 : 0;
      zodAccepted += zodOk ? 1 : 0;
      assert.deepEqual(
        outcome(() => validateRequest(endpoint, body), body),
        outcome(() => validateWith(SCHEMAS[endpoint], body), body),
        `validateRequest and zod disagree on ${JSON.stringify(body)}`,
      );
    }
    // The generator reaches both sides of the border, and the fast check takes most of what is valid (it is used).
    assert.ok(zodAccepted > 500 && zodAccepted < 9_000, `zod accepted ${zodAccepted}`);
    assert.ok(fastAccepted > zodAccepted * 0.5, `fast ${fastAccepted} of ${zodAccepted}`);
  });
}

test('the shapes clients send are accepted without zod', () => {
  const chat = { model: 'm', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: [{ type: 'text', text: 'hi' }] }], max_tokens: 64, temperature: 0.7 };
  assert.ok(FAST.chat(chat));
  assert.ok(FAST.chat({ ...chat, stream: true, stream_options: { include_usage: true }, tools: [{ type: 'function', function: { name: 'f' } }], user: 'u' }));
  assert.ok(FAST.chat({ ...chat, messages: [{ role: 'assistant', content: null, tool_calls: [] }] }));
  assert.ok(FAST.completions({ model: 'm', prompt: 'Say hi', max_tokens: 8, stream: false }));
  assert.ok(FAST.completions({ model: 'm', prompt: [[1, 2], [3]] }));
  assert.ok(FAST.embeddings({ model: 'm', input: ['a', 'b'], encoding_format: 'base64' }));
  assert.ok(FAST.embeddings({ model: 'm', input: [1, 2, 3] }));
  // Borders where zod refuses: left to zod, which writes the message.
  assert.ok(!FAST.chat({ ...chat, max_tokens: 2 ** 53 }));
  assert.ok(!FAST.chat({ ...chat, tools: [nestedTool(MAX_TOOLS_DEPTH)] }));
  assert.ok(FAST.chat({ ...chat, tools: [nestedTool(MAX_TOOLS_DEPTH - 1)] }));
  assert.ok(FAST.chat({ ...chat, messages: [{ role: 'user', content: ['hi', { type: 'text', text: 'x' }] }] }));
  for (const item of [null, 1, 'f', true, []]) {
    assert.ok(!FAST.chat({ ...chat, tools: [item] }), `tools: [${JSON.stringify(item)}]`);
    if (typeof item !== 'string') assert.ok(!FAST.chat({ ...chat, messages: [{ role: 'user', content: [item] }] }), `content: [${JSON.stringify(item)}]`);
  }
  assert.ok(!FAST.embeddings({ model: 'm', input: [] }));
  assert.ok(!FAST.chat({ ...chat, model: 'x'.repeat(257) }));
});

/** The refusal a chat body gets, through the fast path's fallback to zod. */
function refusal(body: Record<string, unknown>): GatewayError {
  try {
    validateRequest('chat', body);
  } catch (err) {
    assert.ok(err instanceof GatewayError);
    return err;
  }
  return assert.fail(`accepted ${JSON.stringify(body)}`);
}

test('items of tools and of content are objects: anything else is a 400 naming the item', () => {
  const chat = { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 };
  for (const [item, got] of [[null, 'null'], [1, 'an integer'], ['f', 'a string'], [[{ type: 'function' }], 'an array']] as const) {
    const err = refusal({ ...chat, tools: [{ type: 'function', function: { name: 'f' } }, item] });
    assert.equal(err.status, 400);
    assert.equal(err.param, 'tools[1]');
    assert.equal(err.wireCode, 'invalid_type');
    assert.equal(err.message, `Invalid type for 'tools[1]': expected an object, but got ${got}.`);
  }
  const part = refusal({ ...chat, messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, null] }] });
  assert.equal(part.param, 'messages[0].content[1]');
  assert.equal(part.message, "Invalid type for 'messages[0].content[1]': expected a string or an object, but got null.");
  // A union refused whole still names the field, and says which types it takes.
  const whole = refusal({ ...chat, messages: [{ role: 'user', content: 5 }] });
  assert.equal(whole.param, 'messages[0].content');
  assert.equal(whole.wireCode, 'invalid_type');
  assert.match(whole.message, /expected a string, an array or null, but got an integer/);
  // Depth is still checked, and still reported on `tools`.
  assert.equal(refusal({ ...chat, tools: [nestedTool(MAX_TOOLS_DEPTH)] }).param, 'tools');
});
