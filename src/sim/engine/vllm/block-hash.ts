/**
 * Chained hashes of full token blocks, as vLLM's prefix cache keys them: block k's key depends on block k−1's key and
 * block k's token ids, so equal keys mean equal prefixes up to and including that block. vLLM uses SHA-256 (or
 * Python's hash); a simulator only needs the chaining and a negligible collision rate. Two 32-bit lanes are mixed
 * and folded into one signed 32-bit key because V8 keys Maps by small integers about twice as fast as by doubles,
 * and the block map is the engine's hottest structure; with ~3·10⁴ cached blocks per engine a false hit is a
 * ~10⁻⁵ event per lookup, far below any effect a routing comparison could see.
 */

/** Hash of one block given its parent's key; `tokenAt(i)` for i in [start, start + blockSize). */
export function chainBlockHash(parent: number, tokens: ArrayLike<number>, start: number, blockSize: number): number {
  let h1 = parent ^ 0x811c9dc5;
  let h2 = Math.imul(parent, 0x01000193) ^ 0x3243f6a8;
  for (let i = start; i < start + blockSize; i++) {
    const t = tokens[i] ?? 0;
    h1 = Math.imul(h1 ^ t, 0x85ebca6b);
    h1 = (h1 << 13) | (h1 >>> 19);
    h2 = Math.imul(h2 ^ t, 0xc2b2ae35);
    h2 = (h2 << 17) | (h2 >>> 15);
    h2 = (h2 + h1) | 0;
  }
  h1 ^= h1 >>> 16;
  h1 = Math.imul(h1, 0x7feb352d);
  h1 ^= h1 >>> 15;
  h2 ^= h2 >>> 16;
  h2 = Math.imul(h2, 0x846ca68b);
  h2 ^= h2 >>> 16;
  return (h1 ^ Math.imul(h2, 0x9e3779b1)) | 0;
}

/** Keys of the first `count` full blocks of `tokens`, continuing a chain that already has `into.length` keys. */
export function extendBlockHashes(into: number[], tokens: ArrayLike<number>, count: number, blockSize: number): void {
  let parent = into.length === 0 ? 0 : (into[into.length - 1] ?? 0);
  for (let k = into.length; k < count; k++) {
    parent = chainBlockHash(parent, tokens, k * blockSize, blockSize);
    into.push(parent);
  }
}

/**
 * Prompt block keys are cached per prompt array: the discrete-event benchmark replays the same prompts under every
 * policy, and hashing a 7k-token prompt thousands of times would dominate the run.
 */
const promptHashCache = new WeakMap<object, { blockSize: number; keys: readonly number[] }>();

export function promptBlockHashes(tokens: ArrayLike<number>, blockSize: number): readonly number[] {
  const full = Math.floor(tokens.length / blockSize);
  const cached = promptHashCache.get(tokens);
  if (cached && cached.blockSize === blockSize && cached.keys.length === full) return cached.keys;
  const keys: number[] = [];
  extendBlockHashes(keys, tokens, full, blockSize);
  promptHashCache.set(tokens, { blockSize, keys });
  return keys;
}
