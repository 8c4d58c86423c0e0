import { chainTokenBlock, ROOT_KEY, tokenizerFor, type KvTokenizerName, type Tokenize } from './token-keys.js';

/** Checkpoints are taken every STRIDE character blocks (16 × 64 characters ≈ 256 tokens). */
const STRIDE = 16;
const CAPACITY = 2048;

interface Checkpoint {
  /** Characters tokenized (a safe cut: see `safeCut`). */
  readonly cut: number;
  readonly tokens: number;
  /** Keys of the full token blocks before the cut. */
  readonly keys: Int32Array;
  /** Token ids after the last full block (fewer than a block). */
  readonly tail: readonly number[];
}

const isLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isSpace = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13;

/**
 * The last position in (from, to] where the text can be cut without changing its tokens: a space between a
 * non-space and a letter. Both the simulator's tokenizer and tiktoken's pre-tokenizers end a piece before such a space
 * and start the next piece with it (" word"), and BPE never merges across pieces, so
 * tokens(text) = tokens(text[0, cut)) ++ tokens(text[cut, end)). −1 when there is none.
 */
function safeCut(text: string, from: number, to: number): number {
  // Only characters before `to` decide, so equal prefixes cut at the same place.
  for (let c = Math.min(to, text.length) - 2; c > from; c--) {
    if (text.charCodeAt(c) === 32 && isLetter(text.charCodeAt(c + 1)) && !isSpace(text.charCodeAt(c - 1))) return c;
  }
  return -1;
}

/**
 * Token-block keys of prompts, resuming from the longest prefix already tokenized: requests that share a system
 * prompt tokenize only what follows it. Checkpoints are keyed by the twin's chained character-block key of the
 * prefix they cover (`RequestProfile.keys()`, already computed for routing), kept in an LRU of CAPACITY entries.
 * One memo per (tokenizer, block size), shared by every backend that uses them.
 */
export class TokenKeyMemo {
  readonly tokenize: Tokenize;
  readonly blockSize: number;
  readonly #memo = new Map<number, Checkpoint>();

  constructor(tokenize: Tokenize, blockSize: number) {
    this.tokenize = tokenize;
    this.blockSize = blockSize;
  }

  /** Keys of every full token block of `text`; `charKeys` are its chained character-block keys of `charsPerBlock`. */
  keys(text: string, charKeys: readonly number[], charsPerBlock: number): { tokens: number; keys: readonly number[] } {
    const bs = this.blockSize;
    let start = -1;
    let cp: Checkpoint | undefined;
    for (let k = charKeys.length - 1; k >= 0; k--) {
      if ((k + 1) % STRIDE !== 0) continue;
      cp = this.#memo.get(charKeys[k] as number);
      if (cp && cp.cut <= text.length) {
        start = k;
        // Most recently used last: the LRU evicts from the front.
        this.#memo.delete(charKeys[k] as number);
        this.#memo.set(charKeys[k] as number, cp);
        break;
      }
      cp = undefined;
    }
    const keys: number[] = cp ? Array.from(cp.keys) : [];
    let tail: number[] = cp ? cp.tail.slice() : [];
    let tokens = cp?.tokens ?? 0;
    let pos = cp?.cut ?? 0;
    const feed = (ids: ArrayLike<number>): void => {
      tokens += ids.length;
      for (let i = 0; i < ids.length; i++) tail.push(ids[i] as number);
      if (tail.length < bs) return;
      let parent = keys.length > 0 ? (keys[keys.length - 1] as number) : ROOT_KEY;
      let o = 0;
      for (; o + bs <= tail.length; o += bs) keys.push((parent = chainTokenBlock(parent, tail, o, bs)));
      tail = tail.slice(o);
    };
    for (let k = start + STRIDE; k < charKeys.length; k += STRIDE) {
      const cut = safeCut(text, pos, (k + 1) * charsPerBlock);
      if (cut < 0) continue;
      feed(this.tokenize(text.slice(pos, cut)));
      pos = cut;
      this.#remember(charKeys[k] as number, { cut, tokens, keys: Int32Array.from(keys), tail: tail.slice() });
    }
    if (pos < text.length) feed(this.tokenize(pos === 0 ? text : text.slice(pos)));
    return { tokens, keys };
  }

  #remember(key: number, cp: Checkpoint): void {
    this.#memo.delete(key);
    this.#memo.set(key, cp);
    if (this.#memo.size > CAPACITY) {
      const oldest = this.#memo.keys().next();
      if (!oldest.done) this.#memo.delete(oldest.value);
    }
  }
}

const memos = new Map<string, TokenKeyMemo>();

/** The process's memo for a tokenizer and an engine block size. */
export function tokenKeyMemo(name: KvTokenizerName, blockSize: number): TokenKeyMemo {
  const id = `${name}/${blockSize}`;
  let m = memos.get(id);
  if (!m) memos.set(id, (m = new TokenKeyMemo(tokenizerFor(name), blockSize)));
  return m;
}
