import { extendCharBlockKeys, newChainState, type ChainState } from './char-blocks.js';

interface Entry {
  /** The text whose full blocks `keys` cover (only its first keys.length × charsPerBlock characters matter). */
  text: string;
  keys: number[];
  state: ChainState;
}

/**
 * Incremental prefix hashing for multi-turn chats: a session's next prompt is its previous prompt plus the answer and
 * a new message, so the keys of the common start are reused after a native `startsWith` check (a memcmp) and only
 * the new characters are hashed. A 100k-character conversation then costs its last turn, not its whole length.
 * Bounded LRU by session; a prompt that does not extend the cached one is hashed from scratch and replaces it.
 */
export class SessionKeyCache {
  readonly #max: number;
  readonly #charsPerBlock: number;
  #entries = new Map<string, Entry>();

  constructor(maxSessions = 10_000, charsPerBlock: number) {
    this.#max = maxSessions;
    this.#charsPerBlock = charsPerBlock;
  }

  keys(session: string, text: string): number[] {
    const e = this.#entries.get(session);
    let keys: number[];
    let state: ChainState;
    const covered = e ? e.keys.length * this.#charsPerBlock : 0;
    if (e && covered <= text.length && text.startsWith(covered === e.text.length ? e.text : e.text.slice(0, covered))) {
      keys = e.keys.slice();
      state = { ...e.state };
      this.#entries.delete(session);
    } else {
      keys = [];
      state = newChainState();
    }
    extendCharBlockKeys(text, keys, state, this.#charsPerBlock);
    this.#entries.set(session, { text, keys, state });
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    return keys;
  }
}
