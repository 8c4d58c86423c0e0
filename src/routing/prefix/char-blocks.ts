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
 *
 * Keys are signed 32-bit integers: V8 keys Maps by small integers about twice as fast as by doubles, and with
 * ~10⁵ keys per backend a false hit is a 10⁻⁵ event that, keys being chained, extends a match by one block at most.
 */

export const DEFAULT_CHARS_PER_BLOCK = 64;

/** The hash lanes after the last full block, so a longer prompt with the same start can continue the chain. */
export interface ChainState {
  h: number;
}

export function newChainState(): ChainState {
  return { h: 0x811c9dc5 };
}

/** Appends the keys of the full blocks of `text` after the first `keys.length` blocks (which must be its prefix). */
export function extendCharBlockKeys(text: string, keys: number[], state: ChainState, charsPerBlock = DEFAULT_CHARS_PER_BLOCK): void {
  const full = Math.floor(text.length / charsPerBlock);
  let h = state.h;
  for (let k = keys.length; k < full; k++) {
    // Chaining: the running FNV-1a state carries over from the previous block, so a key depends on the whole
    // prefix; the per-block finaliser (murmur3 fmix) spreads it so that neighbouring prefixes get unrelated keys.
    const end = (k + 1) * charsPerBlock;
    for (let i = k * charsPerBlock; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    let a = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    a = Math.imul(a ^ (a >>> 13), 0xc2b2ae35);
    keys.push((a ^ (a >>> 16)) | 0);
  }
  state.h = h;
}

/** Chained keys of every full block of `text`. */
export function charBlockKeys(text: string, charsPerBlock = DEFAULT_CHARS_PER_BLOCK): number[] {
  const keys: number[] = [];
  extendCharBlockKeys(text, keys, newChainState(), charsPerBlock);
  return keys;
}

/** Key of the trailing partial block (GIE hashes it too), chained onto the full blocks; null when there is none. */
export function partialBlockKey(text: string, fullKeys: readonly number[], charsPerBlock = DEFAULT_CHARS_PER_BLOCK): number | null {
  const start = fullKeys.length * charsPerBlock;
  if (start >= text.length) return null;
  let h = (fullKeys[fullKeys.length - 1] ?? 0) ^ 0x5bd1e995;
  for (let i = start; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h ^= h >>> 15;
  return Math.imul(h, 0x27d4eb2d) | 0;
}
