import { formatResetDuration } from '../core/index.js';
import { msUntil, type BucketState } from './bucket.js';

// The limits are the same on almost every call: their text is kept rather than converted again (a limit past 2^30,
// as a large tpm is, is a heap number whose conversion is not cached by the engine).
let requestCap = Number.NaN;
let requestCapText = '';
let tokenCap = Number.NaN;
let tokenCapText = '';

/**
 * `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` as OpenAI sends them, from the bucket that binds most
 * tightly on each dimension; reset is the time until that bucket is full again, in OpenAI's `6m0s` / `20ms` format.
 * A dimension without a configured limit sends no headers. Runs on every limited request: no intermediate objects.
 */
export function rateLimitHeaders(states: readonly BucketState[], into: Record<string, string> = {}): Record<string, string> {
  let r: BucketState | null = null;
  let t: BucketState | null = null;
  for (const s of states) {
    if (s.rpm !== null && (r === null || Math.floor(s.requests) < Math.floor(r.requests))) r = s;
    if (s.tpm !== null && (t === null || Math.floor(s.tokens) < Math.floor(t.tokens))) t = s;
  }
  if (r !== null) {
    const cap = r.rpm!;
    if (cap !== requestCap) requestCapText = String((requestCap = cap));
    into['x-ratelimit-limit-requests'] = requestCapText;
    into['x-ratelimit-remaining-requests'] = String(Math.max(0, Math.floor(r.requests)));
    into['x-ratelimit-reset-requests'] = formatResetDuration(msUntil(r.requests, cap, cap));
  }
  if (t !== null) {
    const cap = t.tpm!;
    if (cap !== tokenCap) tokenCapText = String((tokenCap = cap));
    into['x-ratelimit-limit-tokens'] = tokenCapText;
    into['x-ratelimit-remaining-tokens'] = String(Math.max(0, Math.floor(t.tokens)));
    into['x-ratelimit-reset-tokens'] = formatResetDuration(msUntil(t.tokens, cap, cap));
  }
  return into;
}
