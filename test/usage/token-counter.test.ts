import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createOutputEstimator, createTokenCounter, encodingForModel } from '../../src/usage/index.js';

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
