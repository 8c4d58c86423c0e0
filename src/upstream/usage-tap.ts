/**
 * Finds the `usage` object in a response body or an SSE event without parsing the whole document: only the usage
 * object itself is handed to JSON.parse. Bodies can be megabytes of embeddings; usage sits at the end.
 */
export interface BackendUsage {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
}

import { closingBracket, skipJsonSpace, skipJsonString } from '../core/index.js';
import { UsageReader } from './usage-read.js';

const KEY = Buffer.from('"usage"');
const reader = new UsageReader();

/**
 * The most tokens one request may be said to have used. Counts are the backend's word, and they settle limits and
 * quotas and sum into reports: a count past any engine's context (2^31) or not a whole non-negative number (1e300,
 * -5, "abc") is a broken or hostile backend, and one such count would lock its caller out for ages or poison every
 * report. Such a usage is not believed: the gateway's own estimate stands in (token_source estimated).
 */
export const MAX_TOKEN_COUNT = 2 ** 31 - 1;

function isTokenCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_TOKEN_COUNT;
}

/** A usage whose counts are all believable (see MAX_TOKEN_COUNT). */
export function believableUsage(u: BackendUsage): boolean {
  return isTokenCount(u.promptTokens) && isTokenCount(u.completionTokens) && isTokenCount(u.cachedTokens);
}

/**
 * Anthropic's usage (`input_tokens` without `prompt_tokens`) counts the prompt in three parts: `input_tokens` is only
 * what was neither read from nor written to the prompt cache (llama.cpp reports so: input_tokens is the prompt less
 * its cached prefix, cache_read_input_tokens the prefix). The gateway's prompt count is the whole prompt, cached part
 * included, as OpenAI's prompt_tokens is; the cached part is cache_read_input_tokens unless details say otherwise.
 */
function anthropicPrompt(input: number, cacheRead: number, cacheCreation: number): number {
  return input + Math.max(0, cacheRead) + Math.max(0, cacheCreation);
}

const countOr = (v: unknown, fallback: number): number => (typeof v === 'number' ? v : fallback);

/** A details object's cached_tokens: chat's prompt_tokens_details, else the Responses API's input_tokens_details. */
function cachedIn(details: unknown): number | null {
  const n = details && typeof details === 'object' ? (details as { cached_tokens?: unknown }).cached_tokens : undefined;
  return typeof n === 'number' ? n : null;
}

function toUsage(o: unknown): BackendUsage | null {
  if (!o || typeof o !== 'object') return null;
  const u = o as Record<string, unknown>;
  const anthropic = typeof u.prompt_tokens !== 'number' && typeof u.input_tokens === 'number';
  const cacheRead = anthropic ? countOr(u.cache_read_input_tokens, -1) : -1;
  const prompt = typeof u.prompt_tokens === 'number' ? u.prompt_tokens : anthropic ? anthropicPrompt(u.input_tokens as number, cacheRead, countOr(u.cache_creation_input_tokens, -1)) : null;
  if (prompt === null) return null;
  const completion = typeof u.completion_tokens === 'number' ? u.completion_tokens : typeof u.output_tokens === 'number' ? u.output_tokens : 0;
  const cached = cachedIn(u.prompt_tokens_details) ?? cachedIn(u.input_tokens_details) ?? Math.max(0, cacheRead);
  return { promptTokens: prompt, completionTokens: completion, cachedTokens: cached };
}

/** A usage object's JSON text read with JSON.parse: the reference the byte reader must agree with. */
export function usageFromJson(text: string): BackendUsage | null {
  try {
    return toUsage(JSON.parse(text));
  } catch {
    return null;
  }
}

/** The last `"usage": {...}` object in buf[start, end), or null when absent or null-valued. */
export function findUsage(buf: Buffer, start = 0, end = buf.length): BackendUsage | null {
  let at = buf.lastIndexOf(KEY, end - KEY.length);
  while (at >= start) {
    let i = at + KEY.length;
    i = skipJsonSpace(buf, i, end);
    if (buf[i] === 0x3a) {
      i = skipJsonSpace(buf, i + 1, end);
      if (buf[i] !== 0x7b) return null; // "usage": null
      const close = closingBracket(buf, i, end);
      if (close < 0) return null;
      if (reader.read(buf, i, close)) {
        const f = reader.f;
        const anthropic = f.prompt < 0 && f.input >= 0;
        const prompt = f.prompt >= 0 ? f.prompt : anthropic ? anthropicPrompt(f.input, f.cacheRead, f.cacheCreation) : -1;
        if (prompt < 0) return null;
        const cached = f.cached >= 0 ? f.cached : f.inputCached >= 0 ? f.inputCached : anthropic ? Math.max(0, f.cacheRead) : 0;
        return { promptTokens: prompt, completionTokens: f.completion >= 0 ? f.completion : Math.max(0, f.output), cachedTokens: cached };
      }
      return usageFromJson(buf.toString('utf8', i, close + 1));
    }
    at = at - 1 >= start ? buf.lastIndexOf(KEY, at - 1) : -1;
  }
  return null;
}

const DATA = Buffer.from('data:');

/**
 * The event buf[start, end) without the top-level `usage` object member of its data, or null when it has none (or
 * the data is not one JSON object on its line). For a backend that puts the usage the gateway asked for on a chunk
 * that still carries a choice (older llama.cpp): the chunk must reach the client, its usage must not. Only the data
 * object's own members are walked, so a `"usage"` key nested in a choice is never taken for it. An event with no
 * choice at all (`choices` absent, or empty in a spelling the relay's quick check missed) is the usage chunk itself:
 * an empty buffer says to drop it whole.
 */
export function withoutUsage(buf: Buffer, start: number, end: number): Buffer | null {
  const data = buf.indexOf(DATA, start);
  if (data === -1 || data >= end) return null;
  let i = data + DATA.length;
  if (buf[i] === 0x20) i++;
  if (buf[i] !== 0x7b) return null;
  const close = closingBracket(buf, i, end);
  if (close < 0) return null;
  /** Where the previous member's separating comma is (the cut starts there when usage is not the first member). */
  let comma = -1;
  let usageFrom = -1;
  let usageTo = -1;
  let hasChoice = false;
  i = skipJsonSpace(buf, i + 1, close);
  while (i < close && buf[i] === 0x22) {
    const keyStart = i;
    const keyEnd = skipJsonString(buf, i, close);
    i = skipJsonSpace(buf, keyEnd, close);
    if (buf[i] !== 0x3a) return null;
    i = skipJsonSpace(buf, i + 1, close);
    const valueStart = i;
    const c = buf[i];
    if (c === 0x7b || c === 0x5b) {
      const v = closingBracket(buf, i, close);
      if (v < 0) return null;
      i = v + 1;
    } else if (c === 0x22) i = skipJsonString(buf, i, close);
    else while (i < close && buf[i] !== 0x2c && buf[i] !== 0x7d && buf[i] !== 0x20 && buf[i] !== 0x0a && buf[i] !== 0x0d && buf[i] !== 0x09) i++;
    const valueEnd = i;
    i = skipJsonSpace(buf, i, close);
    if (buf[valueStart] === 0x7b && usageFrom === -1 && keyIs(buf, keyStart, keyEnd, KEY)) {
      // `,"usage":{…}` after another member; `"usage":{…},` (with its comma) as the first; alone, just the member.
      usageFrom = comma !== -1 ? comma : keyStart;
      usageTo = comma !== -1 || buf[i] !== 0x2c ? valueEnd : skipJsonSpace(buf, i + 1, close);
    } else if (buf[valueStart] === 0x5b && keyIs(buf, keyStart, keyEnd, CHOICES)) {
      hasChoice = buf[skipJsonSpace(buf, valueStart + 1, valueEnd)] !== 0x5d;
    }
    if (buf[i] !== 0x2c) break;
    comma = i;
    i = skipJsonSpace(buf, i + 1, close);
  }
  if (usageFrom === -1 || buf[i] !== 0x7d) return null;
  if (!hasChoice) return EMPTY;
  return Buffer.concat([buf.subarray(start, usageFrom), buf.subarray(usageTo, end)]);
}

const CHOICES = Buffer.from('"choices"');
const EMPTY = Buffer.alloc(0);

function keyIs(buf: Buffer, from: number, to: number, key: Buffer): boolean {
  return to - from === key.length && buf.compare(key, 0, key.length, from, to) === 0;
}
