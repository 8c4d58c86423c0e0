import { test } from 'node:test';
import assert from 'node:assert/strict';
import { charBlockKeys } from '../../src/routing/prefix/char-blocks.js';
import { TokenKeyMemo } from '../../src/routing/kv-events/token-key-memo.js';
import { tokenBlockKeys, tokenizerFor, type KvTokenizerName } from '../../src/routing/kv-events/token-keys.js';

/** Words, numbers, punctuation, newlines and runs of spaces: the places a careless cut would change the tokens. */
function text(seed: number, words: number): string {
  let x = seed * 2654435761;
  const next = (n: number): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % n;
  };
  const parts: string[] = [];
  for (let i = 0; i < words; i++) {
    const r = next(20);
    if (r < 12) parts.push(' ' + 'thequickbrownfoxjumpsoverlazydogs'.slice(next(20), 3 + next(20)));
    else if (r < 14) parts.push(' ' + String(next(100_000)));
    else if (r < 16) parts.push([',', '.', '!', "'s", ' -', ' (x)'][next(6)] as string);
    else if (r < 18) parts.push('\n' + ' '.repeat(next(3)));
    else parts.push('  ' + 'Ünïcode'.slice(0, 1 + next(6)));
  }
  return parts.join('');
}

for (const name of ['simulator', 'o200k_base', 'cl100k_base'] as KvTokenizerName[]) {
  test(`token-block keys resumed from a shared prefix equal a full tokenization (${name})`, () => {
    const tokenize = tokenizerFor(name);
    const memo = new TokenKeyMemo(tokenize, 16);
    for (let g = 0; g < 3; g++) {
      const system = text(1000 + g, 1500);
      for (let q = 0; q < 4; q++) {
        const prompt = system + text(g * 10 + q, 300 + q * 50);
        const got = memo.keys(prompt, charBlockKeys(prompt, 64), 64);
        const ids = tokenize(prompt);
        assert.equal(got.tokens, ids.length);
        assert.deepEqual(got.keys, tokenBlockKeys(ids, 16), `group ${g}, question ${q}`);
      }
    }
  });
}
