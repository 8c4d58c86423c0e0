import { formatResetDuration } from '../core/index.js';
import { msUntil, type BucketState } from './bucket.js';

/** The bucket that binds most tightly on a dimension, for OpenAI's x-ratelimit-* headers. */
export interface Binding {
  readonly limit: number;
  readonly remaining: number;
  readonly resetMs: number;
}

export function requestBinding(states: readonly BucketState[]): Binding | null {
  let best: Binding | null = null;
  for (const s of states) {
    if (s.rpm === null) continue;
    const b = { limit: s.rpm, remaining: Math.max(0, Math.floor(s.requests)), resetMs: msUntil(s.requests, s.rpm, s.rpm) };
    if (!best || b.remaining < best.remaining) best = b;
  }
  return best;
}

export function tokenBinding(states: readonly BucketState[]): Binding | null {
  let best: Binding | null = null;
  for (const s of states) {
    if (s.tpm === null) continue;
    const b = { limit: s.tpm, remaining: Math.max(0, Math.floor(s.tokens)), resetMs: msUntil(s.tokens, s.tpm, s.tpm) };
    if (!best || b.remaining < best.remaining) best = b;
  }
  return best;
}

/**
 * `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` as OpenAI sends them; reset is the time until the bucket
 * is full again, in OpenAI's `6m0s` / `20ms` format. A dimension without a configured limit sends no headers.
 */
export function rateLimitHeaders(states: readonly BucketState[], into: Record<string, string> = {}): Record<string, string> {
  const r = requestBinding(states);
  if (r) {
    into['x-ratelimit-limit-requests'] = String(r.limit);
    into['x-ratelimit-remaining-requests'] = String(r.remaining);
    into['x-ratelimit-reset-requests'] = formatResetDuration(r.resetMs);
  }
  const t = tokenBinding(states);
  if (t) {
    into['x-ratelimit-limit-tokens'] = String(t.limit);
    into['x-ratelimit-remaining-tokens'] = String(t.remaining);
    into['x-ratelimit-reset-tokens'] = formatResetDuration(t.resetMs);
  }
  return into;
}
