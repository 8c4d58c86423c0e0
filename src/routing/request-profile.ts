import type { RouteRequest } from './types.js';
import { charBlockKeys, partialBlockKey } from './prefix/char-blocks.js';
import type { SessionKeyCache } from './prefix/session-key-cache.js';
import type { TokenKeyMemo } from './kv-events/token-key-memo.js';

/** GIE hashes only the first 256 blocks of a prompt (≈ 4k tokens); the approximate-index baselines copy that. */
export const APPROX_MAX_BLOCKS = 256;

/**
 * The previous turn of this request's session: which backend served it and what it generated. The gateway never
 * keeps the generated text, so its prefix keys cannot cover the answer; but a chat's next prompt resends that
 * answer, and the backend that generated it holds those blocks (vLLM caches generated blocks too).
 */
export interface Continuation {
  readonly backendId: string;
  /** Prefix keys of the previous prompt: the new prompt must still match them there for the credit to apply. */
  readonly afterKeys: number;
  readonly outputTokens: number;
}

/**
 * What routing derives from a request once, before scoring: the prefix keys (computed lazily, at most once, and only
 * if the policy needs them) and the expected output length.
 */
export class RequestProfile {
  readonly req: RouteRequest;
  readonly pool: string;
  readonly promptTokens: number;
  readonly expectedOutput: number;
  readonly charsPerBlock: number;
  continuation: Continuation | null = null;
  readonly #sessions: SessionKeyCache | null;
  #keys: readonly number[] | null = null;
  #approx: number[] | null = null;
  /** Token-block keys for KV-event matching: one tokenizer and block size per request is the rule (one slot). */
  #tok: { memo: TokenKeyMemo; tokens: number; keys: readonly number[] } | null = null;

  constructor(req: RouteRequest, pool: string, expectedOutput: number, charsPerBlock: number, sessions: SessionKeyCache | null = null) {
    this.#sessions = sessions;
    this.req = req;
    this.pool = pool;
    this.promptTokens = Math.max(1, req.promptTokens);
    this.expectedOutput = Math.max(1, expectedOutput);
    this.charsPerBlock = charsPerBlock;
  }

  get promptChars(): number {
    return this.req.promptText.length;
  }

  /** Chained keys of every full character block of the prompt. */
  keys(): readonly number[] {
    if (!this.#keys) {
      const session = this.req.sessionKey;
      this.#keys = session && this.#sessions ? this.#sessions.keys(session, this.req.promptText) : charBlockKeys(this.req.promptText, this.charsPerBlock);
    }
    return this.#keys;
  }

  /**
   * Keys of the prompt's full token blocks (kv-events/token-keys.ts) and its token count, from the memo of a tokenizer
   * and block size (which resumes after the longest prefix it has seen); once per request, and only when a
   * candidate backend has usable KV events.
   */
  tokenKeys(memo: TokenKeyMemo): { tokens: number; keys: readonly number[] } {
    const t = this.#tok;
    if (t && t.memo === memo) return t;
    const r = memo.keys(this.req.promptText, this.keys(), this.charsPerBlock);
    this.#tok = { memo, tokens: r.tokens, keys: r.keys };
    return this.#tok;
  }

  /** GIE-style keys: the first 256 blocks, plus the trailing partial block when the prompt is shorter than that. */
  approxKeys(): readonly number[] {
    if (this.#approx) return this.#approx;
    const full = this.keys();
    if (full.length >= APPROX_MAX_BLOCKS) this.#approx = full.slice(0, APPROX_MAX_BLOCKS);
    else {
      const partial = partialBlockKey(this.req.promptText, full, this.charsPerBlock);
      this.#approx = partial === null ? full.slice() : [...full, partial];
    }
    return this.#approx;
  }
}
