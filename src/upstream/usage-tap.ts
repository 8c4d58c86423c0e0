/**
 * Finds the `usage` object in a response body or an SSE event without parsing the whole document: only the usage
 * object itself is handed to JSON.parse. Bodies can be megabytes of embeddings; usage sits at the end.
 */
export interface BackendUsage {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
}

import { closingBracket, skipJsonSpace } from '../core/index.js';
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

function toUsage(o: unknown): BackendUsage | null {
  if (!o || typeof o !== 'object') return null;
  const u = o as Record<string, unknown>;
  const prompt = typeof u.prompt_tokens === 'number' ? u.prompt_tokens : typeof u.input_tokens === 'number' ? u.input_tokens : null;
  if (prompt === null) return null;
  const completion = typeof u.completion_tokens === 'number' ? u.completion_tokens : typeof u.output_tokens === 'number' ? u.output_tokens : 0;
  const details = u.prompt_tokens_details as Record<string, unknown> | null | undefined;
  const cached = details && typeof details.cached_tokens === 'number' ? details.cached_tokens : 0;
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
        const prompt = f.prompt >= 0 ? f.prompt : f.input;
        if (prompt < 0) return null;
        return { promptTokens: prompt, completionTokens: f.completion >= 0 ? f.completion : Math.max(0, f.output), cachedTokens: Math.max(0, f.cached) };
      }
      return usageFromJson(buf.toString('utf8', i, close + 1));
    }
    at = at - 1 >= start ? buf.lastIndexOf(KEY, at - 1) : -1;
  }
  return null;
}
