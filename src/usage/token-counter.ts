import { hash } from 'node:crypto';
import type { UsageSource } from '../core/index.js';
import { addMessageSize, REPLY_PRIMING, renderMessage, renderTools, type PromptSize, type RenderedMessage } from './chat-render.js';
import { encodeLength, encodingForModel, getEncoder, type EncodingName } from './encoders.js';
import { Lru } from './lru.js';

export interface TokenCount {
  readonly tokens: number;
  /** `counted` with an exact tokenizer, `estimated` from the learned chars-per-token ratio. */
  readonly source: Extract<UsageSource, 'counted' | 'estimated'>;
  /** Characters of countable text; pass back to `observePrompt` with the backend's reported count. */
  readonly chars: number;
  /** Fixed (non-text) tokens included in `tokens`; also for `observePrompt`. */
  readonly fixed: number;
}

export type TextInput = string | readonly string[] | readonly number[] | readonly (readonly number[])[];

export interface TokenCounterOptions {
  /** Model → encoding, overriding the name-based guess (e.g. a fine-tune served under its own name). */
  encodings?: Readonly<Record<string, EncodingName>>;
  /** Per-message counts remembered, so a multi-turn chat only tokenizes its new messages. */
  cacheEntries?: number;
  /** Starting chars-per-token ratio for models without a known encoding. */
  initialCharsPerToken?: number;
}

export interface TokenCounter {
  countChatPrompt(model: string, messages: readonly unknown[], tools?: readonly unknown[]): TokenCount;
  /** Completions `prompt` or embeddings `input`: text, texts, token ids or lists of token ids. */
  countText(model: string, input: TextInput): TokenCount;
  /** Teach the ratio from a backend's reported prompt tokens for a prompt this counter measured. */
  observePrompt(model: string, count: TokenCount, reportedPromptTokens: number): void;
  charsPerToken(model: string): number;
  /**
   * Loads the exact tokenizers these models use (each parses a large BPE table once per process, ~50-200 ms), so a
   * configured model's first request does not wait for it on the event loop. Called at start and on reload.
   */
  warm(models: readonly string[]): void;
  readonly stats: { readonly cacheHits: number; readonly cacheMisses: number };
}

const RATIO_MIN = 1;
const RATIO_MAX = 12;
const RATIO_ALPHA = 0.2;
// Short texts are their own cache key; longer ones are hashed so the cache's memory stays bounded.
const HASH_ABOVE = 128;
/**
 * Characters one request may have counted exactly. An exact tokenizer costs about half a microsecond per character on
 * the event loop (a 16 MiB prompt would hold it for seconds before any limit could refuse it); text past this budget
 * is estimated from the chars-per-token ratio instead, so the work per request is bounded whatever its size.
 */
const EXACT_CHARS_PER_REQUEST = 64 * 1024;

export function createTokenCounter(options: TokenCounterOptions = {}): TokenCounter {
  const cache = new Lru<string, number>(options.cacheEntries ?? 50_000);
  // Keyed by model names from callers: bounded by bytes too (issue 11), not only by entries.
  const ratios = new Lru<string, number>(1024, 256 * 1024);
  const initialRatio = options.initialCharsPerToken ?? 4;
  const stats = { cacheHits: 0, cacheMisses: 0 };

  // The name-based guess (a slice, a lower-casing, two regular expressions) once per model name, not per request.
  const guessed = new Lru<string, EncodingName | null>(1024, 256 * 1024);
  const encodingOf = (model: string): EncodingName | null => {
    const configured = options.encodings?.[model];
    if (configured !== undefined) return configured;
    let enc = guessed.get(model);
    if (enc === undefined) guessed.set(model, (enc = encodingForModel(model)));
    return enc;
  };
  const ratioOf = (model: string): number => ratios.get(model) ?? initialRatio;

  function textTokens(enc: EncodingName, text: string): number {
    if (text.length === 0) return 0;
    const key = `${enc}\u0000${text.length > HASH_ABOVE ? hash('sha1', text, 'base64') : text}`;
    const hit = cache.get(key);
    if (hit !== undefined) {
      stats.cacheHits++;
      return hit;
    }
    stats.cacheMisses++;
    const n = encodeLength(enc, text);
    cache.set(key, n);
    return n;
  }

  function total(model: string, parts: readonly RenderedMessage[], extraFixed: number): TokenCount {
    const enc = encodingOf(model);
    let chars = 0;
    let fixed = extraFixed;
    let tokens = 0;
    let budget = EXACT_CHARS_PER_REQUEST;
    let overflowChars = 0;
    for (const p of parts) {
      chars += p.text.length;
      fixed += p.fixed;
      if (!enc) continue;
      if (p.text.length <= budget) {
        tokens += textTokens(enc, p.text);
        budget -= p.text.length;
      } else overflowChars += p.text.length;
    }
    if (enc && overflowChars === 0) return { tokens: tokens + fixed, source: 'counted', chars, fixed };
    if (enc) return { tokens: tokens + Math.ceil(overflowChars / ratioOf(model)) + fixed, source: 'estimated', chars, fixed };
    return { tokens: Math.ceil(chars / ratioOf(model)) + fixed, source: 'estimated', chars, fixed };
  }

  // Reused by every estimate: the counter runs synchronously, one prompt at a time.
  const size: PromptSize = { chars: 0, fixed: 0 };

  /** `total` over the rendered messages when the model has no tokenizer: the same figures, from lengths alone. */
  function estimateChat(model: string, messages: readonly unknown[], tools: readonly unknown[] | undefined): TokenCount {
    size.chars = 0;
    size.fixed = REPLY_PRIMING;
    for (const m of messages) addMessageSize(m, size);
    const t = renderTools(tools);
    const chars = size.chars + t.text.length;
    const fixed = size.fixed + t.fixed;
    return { tokens: Math.ceil(chars / ratioOf(model)) + fixed, source: 'estimated', chars, fixed };
  }

  return {
    stats,
    charsPerToken: ratioOf,
    warm(models) {
      for (const model of models) {
        const enc = encodingOf(model);
        if (enc !== null) getEncoder(enc);
      }
    },
    countChatPrompt(model, messages, tools) {
      if (encodingOf(model) === null) return estimateChat(model, messages, tools);
      const parts = messages.map(renderMessage);
      const t = renderTools(tools);
      if (t.text.length > 0 || t.fixed > 0) parts.push(t);
      return total(model, parts, REPLY_PRIMING);
    },
    countText(model, input) {
      if (typeof input === 'string') return total(model, [{ text: input, fixed: 0 }], 0);
      let ids = 0;
      const texts: RenderedMessage[] = [];
      for (const item of input) {
        if (typeof item === 'number') ids++;
        else if (typeof item === 'string') texts.push({ text: item, fixed: 0 });
        else ids += item.length;
      }
      const counted = total(model, texts, 0);
      // Token ids are exact whatever the tokenizer; the result is only "estimated" if text had to be estimated.
      return { ...counted, tokens: counted.tokens + ids, source: texts.length > 0 ? counted.source : 'counted' };
    },
    observePrompt(model, count, reported) {
      if (count.source !== 'estimated' || count.chars < 64) return;
      const textTokensReported = reported - count.fixed;
      if (!(textTokensReported > 0)) return;
      const sample = Math.min(RATIO_MAX, Math.max(RATIO_MIN, count.chars / textTokensReported));
      // An exponentially weighted mean: follows a model's real tokenizer within a few dozen requests, and one
      // odd prompt (code, CJK) moves it only by a fifth.
      ratios.set(model, ratioOf(model) + RATIO_ALPHA * (sample - ratioOf(model)));
    },
  };
}
