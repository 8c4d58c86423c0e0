import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createOutputEstimator, createTokenCounter, encodingForModel } from '../../src/usage/index.js';
import { addMessageSize, REPLY_PRIMING, renderMessage, renderTools } from '../../src/usage/chat-render.js';

/** Chat messages of every shape a client may send, valid or not (seeded: the same cases on every run). */
function generatedMessages(count: number, seed: number): unknown[] {
  let s = seed;
  const rnd = (n: number) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 16) % n; // an LCG's low bits cycle quickly: the high ones
  };
  const text = () => ['', 'hi', 'x'.repeat(rnd(300)), 'héllo wörld ✓', '\n'.repeat(rnd(5))][rnd(5)];
  const junk = () => [null, 7, true, [], {}, undefined, 'str'][rnd(7)];
  const part = () =>
    [
      { type: 'text', text: text() },
      { type: 'image_url', image_url: { url: 'x' } },
      { type: 'image' },
      { type: 'input_audio', input_audio: {} },
      { type: 'image_url', text: text() },
      { text: 42 },
      junk(),
    ][rnd(7)];
  const call = () =>
    [
      { id: 'c', type: 'function', function: { name: text(), arguments: text() } },
      { function: { name: 5 } },
      { function: {} },
      { function: null },
      junk(),
    ][rnd(5)];
  const message = (): unknown => {
    if (rnd(12) === 0) return junk();
    const m: Record<string, unknown> = {};
    if (rnd(8) !== 0) m.role = ['system', 'user', 'assistant', 'tool', 3][rnd(5)];
    if (rnd(4) === 0) m.name = rnd(5) === 0 ? 9 : text();
    const c = rnd(5);
    m.content = c === 0 ? text() : c === 1 ? Array.from({ length: rnd(5) }, part) : c === 2 ? null : c === 3 ? junk() : undefined;
    if (rnd(4) === 0) m.tool_calls = rnd(6) === 0 ? junk() : Array.from({ length: rnd(4) }, call);
    return m;
  };
  return Array.from({ length: count }, message);
}

describe('token counting', () => {
  it('maps model names to encodings, and leaves other tokenizers to the ratio', () => {
    assert.equal(encodingForModel('gpt-4o-mini'), 'o200k_base');
    assert.equal(encodingForModel('openai/gpt-4.1'), 'o200k_base');
    assert.equal(encodingForModel('gpt-3.5-turbo'), 'cl100k_base');
    assert.equal(encodingForModel('text-embedding-3-small'), 'cl100k_base');
    assert.equal(encodingForModel('meta-llama/Llama-3.1-8B-Instruct'), null);
  });

  it('counts a chat prompt with the per-message overheads of the template', () => {
    const counter = createTokenCounter();
    // "user\nhello world" is 4 tokens in o200k; + 3 per message + 3 reply priming.
    const one = counter.countChatPrompt('gpt-4o', [{ role: 'user', content: 'hello world' }]);
    assert.equal(one.source, 'counted');
    assert.equal(one.tokens, 4 + 3 + 3);
    const named = counter.countChatPrompt('gpt-4o', [{ role: 'user', name: 'bob', content: 'hello world' }]);
    assert.ok(named.tokens > one.tokens + 1);
    const image = counter.countChatPrompt('gpt-4o', [{ role: 'user', content: [{ type: 'text', text: 'hello world' }, { type: 'image_url', image_url: { url: 'x' } }] }]);
    assert.equal(image.tokens, one.tokens + 85);
  });

  it('counts special-token markers typed by a user as text instead of throwing', () => {
    const counter = createTokenCounter();
    assert.ok(counter.countText('gpt-4', '<|endoftext|> hi').tokens > 1);
  });

  it('tokenizes only the new messages of a growing conversation', () => {
    const counter = createTokenCounter();
    const history: { role: string; content: string }[] = [];
    for (let turn = 0; turn < 10; turn++) {
      history.push({ role: turn % 2 ? 'assistant' : 'user', content: `turn ${turn}: ${'lorem ipsum dolor sit amet '.repeat(20)}` });
      counter.countChatPrompt('gpt-4o', history);
    }
    assert.equal(counter.stats.cacheMisses, 10);
    assert.equal(counter.stats.cacheHits, 45);
  });

  it('counts tools and tool calls', () => {
    const counter = createTokenCounter();
    const base = counter.countChatPrompt('gpt-4o', [{ role: 'user', content: 'weather?' }]);
    const withTools = counter.countChatPrompt('gpt-4o', [{ role: 'user', content: 'weather?' }], [
      { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
    ]);
    assert.ok(withTools.tokens > base.tokens + 10);
    const call = counter.countChatPrompt('gpt-4o', [
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
    ]);
    assert.ok(call.tokens > base.tokens + 8);
  });

  it('estimates unknown tokenizers from chars and learns the ratio from reported usage', () => {
    const counter = createTokenCounter();
    const text = 'x'.repeat(3000);
    const first = counter.countText('llama', text);
    assert.equal(first.source, 'estimated');
    assert.equal(first.tokens, 750);
    // The backend keeps reporting 1000 tokens for 3000 chars: the ratio converges to 3.
    for (let i = 0; i < 40; i++) counter.observePrompt('llama', counter.countText('llama', text), 1000);
    assert.ok(Math.abs(counter.charsPerToken('llama') - 3) < 0.05, String(counter.charsPerToken('llama')));
    assert.ok(Math.abs(counter.countText('llama', text).tokens - 1000) <= 20);
    assert.equal(counter.charsPerToken('other-model'), 4);
  });

  it('estimates a chat prompt from lengths exactly as from the rendered messages', () => {
    // The estimate path measures messages without rendering them: its figures must be the rendered text's.
    const messages = generatedMessages(5000, 12345);
    for (const m of messages) {
      const size = { chars: 0, fixed: 0 };
      addMessageSize(m, size);
      const r = renderMessage(m);
      assert.deepEqual(size, { chars: r.text.length, fixed: r.fixed }, JSON.stringify(m));
    }
    const counter = createTokenCounter({ initialCharsPerToken: 3.7 });
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }];
    for (let i = 0; i + 7 <= messages.length; i += 7) {
      const chat = messages.slice(i, i + 7 - (i % 5));
      const withTools = i % 3 === 0 ? tools : undefined;
      const rendered = [...chat.map(renderMessage), renderTools(withTools)];
      const chars = rendered.reduce((n, p) => n + p.text.length, 0);
      const fixed = rendered.reduce((n, p) => n + p.fixed, REPLY_PRIMING);
      const expected = { tokens: Math.ceil(chars / 3.7) + fixed, source: 'estimated', chars, fixed };
      assert.deepEqual(counter.countChatPrompt('llama', chat, withTools), expected);
    }
  });

  it('counts token-id inputs exactly', () => {
    const counter = createTokenCounter();
    assert.deepEqual(
      [counter.countText('llama', [1, 2, 3]).tokens, counter.countText('llama', [[1, 2], [3]]).tokens, counter.countText('llama', [1, 2]).source],
      [3, 3, 'counted'],
    );
    assert.equal(counter.countText('gpt-4o', ['hello world', 'hello world']).tokens, 4);
  });
});

describe('output estimate', () => {
  it('reserves max_tokens when given and the default before enough samples', () => {
    const est = createOutputEstimator({ defaultMaxOutput: 1024, defaultExpected: 256 });
    assert.deepEqual(est.estimate('m', 100), { upperBound: 100, expected: 100 });
    assert.deepEqual(est.estimate('m', null), { upperBound: 1024, expected: 256 });
  });

  it('learns the median and p99 of observed completions per model', () => {
    const est = createOutputEstimator();
    for (let i = 0; i < 990; i++) est.observe('m', 100);
    for (let i = 0; i < 10; i++) est.observe('m', 4000);
    const e = est.estimate('m', undefined);
    assert.ok(e.expected >= 100 && e.expected <= 120, `median ${e.expected}`);
    assert.ok(e.upperBound >= 100 && e.upperBound <= 120, `p99 is still the common length: ${e.upperBound}`);
    for (let i = 0; i < 20; i++) est.observe('m', 4000);
    assert.ok(est.estimate('m', undefined).upperBound >= 4000);
    assert.equal(est.estimate('m', 50).expected, 50);
  });
});
