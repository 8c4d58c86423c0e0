/**
 * Prefix keys from the rendered prompt text. The gateway does not see the backend's token ids, so it cannot compute
 * vLLM's block hashes; instead it cuts the prompt into fixed-size character blocks (64 chars ≈ 16 tokens at ~4
 * chars/token, GIE's choice) and chains their hashes, so key k stands for "the first (k+1)·64 characters".
 *
 * The approximation, stated: (1) equal character prefixes render to equal token prefixes for the same template and
 * tokenizer, so a key hit means the engine very likely holds those tokens too; (2) block boundaries do not line up
 * with the engine's 16-token blocks, so a hit of m blocks means about m·64/charsPerToken cached tokens, rounded down
 * to the engine's blocks by the caller; (3) a partial trailing block is never counted, like the engine's partial
 * blocks. Callers convert with a chars-per-token ratio learned from the backends' reported usage.
 */

export const DEFAULT_CHARS_PER_BLOCK = 64;

const TWO_21 = 2 ** 21;

/** Chained keys of the full blocks of `text` (at most `maxBlocks`), as 53-bit integers. */
export function charBlockKeys(text: string, charsPerBlock = DEFAULT_CHARS_PER_BLOCK, maxBlocks = Number.POSITIVE_INFINITY): number[] {
  const full = Math.min(Math.floor(text.length / charsPerBlock), maxBlocks);
  const keys = new Array<number>(full);
  let h1 = 0x811c9dc5;
  let h2 = 0x3243f6a8;
  for (let k = 0; k < full; k++) {
    // Chaining: the lanes carry over from the previous block, so the key depends on the whole prefix.
    const end = (k + 1) * charsPerBlock;
    for (let i = k * charsPerBlock; i < end; i++) {
      const c = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 13;
    }
    let a = Math.imul(h1 ^ (h1 >>> 16), 0x85ebca6b);
    a ^= a >>> 13;
    let b = Math.imul(h2 ^ (h2 >>> 15), 0xc2b2ae35);
    b ^= b >>> 16;
    keys[k] = (a >>> 0) * TWO_21 + (b >>> 11);
  }
  return keys;
}

/** Key of the trailing partial block (GIE hashes it too), chained onto the full blocks; null when there is none. */
export function partialBlockKey(text: string, fullKeys: readonly number[], charsPerBlock = DEFAULT_CHARS_PER_BLOCK): number | null {
  const start = fullKeys.length * charsPerBlock;
  if (start >= text.length) return null;
  let h = (fullKeys[fullKeys.length - 1] ?? 0) % 4294967296 | 0;
  for (let i = start; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h ^= h >>> 15;
  return (h >>> 0) * TWO_21 + 0x1fffff;
}
