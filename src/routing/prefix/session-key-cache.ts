import { createHash } from 'node:crypto';
import { extendCharBlockKeys, newChainState, type ChainState } from './char-blocks.js';

/**
 * Session ids come from callers (`user`, `prompt_cache_key`, a header) and are kept as routing keys (this cache, the
 * router's last turns, the replica exchange): past this length they are replaced by a hash, so a key costs at most
 * ~46 characters however long the caller made it.
 */
export const MAX_SESSION_KEY_CHARS = 64;
export function boundedSessionKey(session: string | null | undefined): string | null {
  if (session === null || session === undefined) return null;
  if (session.length <= MAX_SESSION_KEY_CHARS) return session;
  return `#${createHash('sha256').update(session).digest('base64url')}`;
}

/** Prompt characters the cache may hold across its sessions (two bytes each at worst). */
const DEFAULT_MAX_CHARS = 32 * 1024 * 1024;

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
  readonly #maxChars: number;
  readonly #charsPerBlock: number;
  #entries = new Map<string, Entry>();
  #chars = 0;

  constructor(maxSessions = 10_000, charsPerBlock: number, maxChars = DEFAULT_MAX_CHARS) {
    this.#max = maxSessions;
    this.#maxChars = maxChars;
    this.#charsPerBlock = charsPerBlock;
  }

  #delete(session: string): void {
    const e = this.#entries.get(session);
    if (e === undefined) return;
    this.#entries.delete(session);
    this.#chars -= e.text.length + session.length;
  }

  keys(session: string, text: string): number[] {
    const e = this.#entries.get(session);
    let keys: number[];
    let state: ChainState;
    const covered = e ? e.keys.length * this.#charsPerBlock : 0;
    if (e && covered <= text.length && text.startsWith(covered === e.text.length ? e.text : e.text.slice(0, covered))) {
      keys = e.keys.slice();
      state = { ...e.state };
      this.#delete(session);
    } else {
      keys = [];
      state = newChainState();
    }
    extendCharBlockKeys(text, keys, state, this.#charsPerBlock);
    this.#delete(session);
    // A prompt is remembered whole (the next turn's startsWith needs it): bounded by characters as well as sessions,
    // so distinct sessions with megabyte prompts cannot hold gigabytes.
    const cost = text.length + session.length;
    if (cost > this.#maxChars / 16) return keys;
    this.#entries.set(session, { text, keys, state });
    this.#chars += cost;
    while (this.#entries.size > this.#max || this.#chars > this.#maxChars) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#delete(oldest.value);
    }
    return keys;
  }
}
