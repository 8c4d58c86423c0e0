import { createRequire } from 'node:module';
import type { TiktokenEncoding } from 'tiktoken';

// Loaded on first use (tokenizerFor below): tiktoken's WASM stays out of gateways that never key token blocks.
const load = createRequire(import.meta.url);

/**
 * The gateway's own keys for token blocks: a chained hash over each block's token ids, so key k stands for "these
 * first (k+1)·blockSize tokens". Events carry the engine's token ids, the gateway tokenizes the prompt it routes:
 * both sides key blocks with this one function, and the engine's own block hashes (SHA-256 or Python's hash, per
 * version and setting) never need to be reproduced. Keys are int32 for the same reason as the twin's (fast Map keys).
 */
export function chainTokenBlock(parent: number, tokens: ArrayLike<number>, start: number, blockSize: number): number {
  let h = parent ^ 0x9747b28c;
  for (let i = start; i < start + blockSize; i++) {
    h = Math.imul(h ^ ((tokens[i] as number) | 0), 0x5bd1e995);
    h ^= h >>> 15;
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

/** The parent key of a request's first block. */
export const ROOT_KEY = 0;

/** Keys of every full block of `tokens`. */
export function tokenBlockKeys(tokens: ArrayLike<number>, blockSize: number): number[] {
  const full = Math.floor(tokens.length / blockSize);
  const out = new Array<number>(full);
  let parent = ROOT_KEY;
  for (let k = 0; k < full; k++) out[k] = parent = chainTokenBlock(parent, tokens, k * blockSize, blockSize);
  return out;
}

export type Tokenize = (text: string) => ArrayLike<number>;

/** Tokenizers the gateway has: tiktoken's encodings, and the simulator's (`simulator`, for tests and benchmarks). */
export const KV_TOKENIZERS = ['simulator', 'o200k_base', 'cl100k_base', 'p50k_base', 'r50k_base'] as const;
export type KvTokenizerName = (typeof KV_TOKENIZERS)[number];

const PIECE = / ?[A-Za-z]+| ?[0-9]{1,3}|\s+|[^\sA-Za-z0-9]/gu;

/**
 * infergate's simulator's tokenizer (src/sim/text/tokenizer.ts, which the gateway may not import): words with their
 * leading space cut into pieces of at most 4 characters, digit groups of up to 3, every other character alone; an id
 * is the piece's FNV-1a hash modulo 128,000. test/kv-events checks that both give the same ids.
 */
function simulatorTokenize(text: string): number[] {
  const ids: number[] = [];
  for (const m of text.matchAll(PIECE)) {
    const p = m[0];
    for (let i = 0; i < p.length; i += 4) {
      const end = Math.min(p.length, i + 4);
      let h = 0x811c9dc5;
      for (let j = i; j < end; j++) h = Math.imul(h ^ p.charCodeAt(j), 0x01000193);
      ids.push((h >>> 0) % 128_000);
    }
  }
  return ids;
}

const cache = new Map<KvTokenizerName, Tokenize>();

/** The tokenizer by name; tiktoken's encodings are loaded once per process, on first use. */
export function tokenizerFor(name: KvTokenizerName): Tokenize {
  let t = cache.get(name);
  if (!t) {
    if (name === 'simulator') t = simulatorTokenize;
    else {
      const enc = (load('tiktoken') as typeof import('tiktoken')).get_encoding(name as TiktokenEncoding);
      // Special-token text in a prompt is ordinary text here, as a chat template's own markers are.
      t = (text) => enc.encode(text, [], []);
    }
    cache.set(name, t);
  }
  return t;
}
