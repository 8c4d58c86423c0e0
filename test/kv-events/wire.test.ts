import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode } from '@msgpack/msgpack';
import { EventBlockIndex } from '../../src/routing/kv-events/block-index.js';
import { tokenBlockKeys } from '../../src/routing/kv-events/token-keys.js';
import { decodeBatch } from '../../src/routing/kv-events/wire.js';

const tokens = Array.from({ length: 64 }, (_, i) => (i * 7919) % 50_000);
const bytes = (n: number) => new Uint8Array(32).fill(n);

test('decodes vLLM batches whether events are tagged arrays (trailing defaults left out) or tagged maps', () => {
  const arrays = decodeBatch(encode([1.5, [['BlockStored', [11n, 12n], null, tokens.slice(0, 32), 16], ['BlockRemoved', [11n]], ['AllBlocksCleared'], ['SomethingNew', 1]], 0], { useBigInt64: true }));
  assert.deepEqual(arrays, {
    ts: 1.5,
    events: [
      { type: 'stored', hashes: ['11', '12'], parent: null, tokens: tokens.slice(0, 32), blockSize: 16, gpu: true },
      { type: 'removed', hashes: ['11'], gpu: true },
      { type: 'cleared' },
    ],
  });
  const maps = decodeBatch(encode([2, [{ type: 'BlockStored', block_hashes: [bytes(1)], parent_block_hash: bytes(9), token_ids: tokens.slice(0, 16), block_size: 16, lora_id: null, medium: 'CPU', lora_name: null }]]));
  assert.deepEqual(maps?.events, [{ type: 'stored', hashes: [`b${'01'.repeat(32)}`], parent: `b${'09'.repeat(32)}`, tokens: tokens.slice(0, 16), blockSize: 16, gpu: false }]);
  assert.equal(decodeBatch(Buffer.from('not msgpack')), null);
  // token_ids that do not fill the blocks: the event is dropped, not misread.
  assert.deepEqual(decodeBatch(encode([0, [['BlockStored', [1], null, [1, 2, 3], 16, null, 'GPU']]]))?.events, []);
});

test('the block index keys stored blocks by their tokens, chained through the engine\'s parent hashes', () => {
  const idx = new EventBlockIndex();
  const keys = tokenBlockKeys(tokens, 16);
  const batch = (events: unknown[]) => decodeBatch(encode([0, events]))!.events.forEach((e) => idx.apply(e));
  batch([['BlockStored', [101, 102], null, tokens.slice(0, 32), 16, null, 'GPU']]);
  batch([['BlockStored', [103, 104], 102, tokens.slice(32, 64), 16, null, 'GPU']]);
  assert.equal(idx.matchLength(keys), 4);
  // vLLM evicts a prefix's blocks tail first.
  batch([['BlockRemoved', [104, 103], 'GPU']]);
  assert.equal(idx.matchLength(keys), 2);
  // A block whose parent was never seen cannot be keyed.
  batch([['BlockStored', [201], 999, tokens.slice(0, 16), 16, null, 'GPU']]);
  assert.equal(idx.stats.orphans, 1);
  // Blocks offloaded to CPU do not count as GPU prefix hits.
  batch([['BlockStored', [301], 102, tokens.slice(32, 48), 16, null, 'CPU']]);
  assert.equal(idx.matchLength(keys), 2);
  batch([['AllBlocksCleared']]);
  assert.equal(idx.matchLength(keys), 0);
  assert.equal(idx.size, 0);
});
