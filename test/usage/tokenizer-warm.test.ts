import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadedEncodings } from '../../src/usage/encoders.js';
import { createTokenCounter } from '../../src/usage/token-counter.js';

// Its own file: the encoders are loaded once per process, so other tests must not have loaded them first.
test('warm loads the exact tokenizers of the configured models at start, and only theirs', () => {
  const counter = createTokenCounter({ encodings: { 'my-finetune': 'cl100k_base' } });
  assert.deepEqual(loadedEncodings(), [], 'nothing is loaded at import');
  counter.warm(['meta-llama/Llama-3.1-8B-Instruct', 'qwen2.5-7b']);
  assert.deepEqual(loadedEncodings(), [], 'models with their own tokenizer need none');
  counter.warm(['openai/gpt-4o']);
  assert.deepEqual(loadedEncodings(), ['o200k_base']);
  counter.warm(['my-finetune', 'gpt-4o-mini']);
  assert.deepEqual(loadedEncodings().sort(), ['cl100k_base', 'o200k_base'], 'a configured encoding counts too');
  // What was warmed is what a request uses: an exact count, not an estimate.
  assert.equal(counter.countText('gpt-4o', 'hello world').source, 'counted');
});
