import { GatewayError, SHOULD_RETRY_HEADER } from '../core/index.js';

/**
 * The limiter's refusals as GatewayErrors, with what the pipeline needs to know about them beyond the wire format:
 * which limit refused (metrics) and, for a spent quota, how many tokens it still had (an uncapped request is then
 * admitted with its output capped to them rather than refused).
 */
export type RefusalKind = 'requests' | 'tokens' | 'concurrency' | 'quota';

// Which limit refused a request, for metrics; OpenAI's wire code is the same for every rate limit.
const refusalKinds = new WeakMap<GatewayError, RefusalKind>();

export function markRefusal(err: GatewayError, kind: RefusalKind): GatewayError {
  refusalKinds.set(err, kind);
  return err;
}

/** The limit that produced this error, or null when the limiter did not (e.g. a backend's own 429). */
export function refusalKindOf(err: unknown): RefusalKind | null {
  return err instanceof GatewayError ? (refusalKinds.get(err) ?? null) : null;
}

/**
 * A 429 that waiting cannot cure (a request larger than the whole limit, a spent quota) says so: OpenAI's SDKs retry
 * every 429, after `retry-after` however long it is (the Node SDK slept a quota's hours until midnight), unless
 * `x-should-retry: false`.
 */
const NO_RETRY = SHOULD_RETRY_HEADER;

/**
 * The longest wait a rate-limit refusal states. A bucket in debt for longer than a day (a request far over its
 * reservation) is still refused until it refills; the header says to come back in a day rather than print a figure
 * no client can use (and past 1e21 ms String() writes an exponent, not an integer).
 */
const MAX_RETRY_AFTER_MS = 86_400_000;

/** `waitMs` null: the request can never pass this limit, so no client should retry it. */
export function rateLimited(message: string, waitMs: number | null, headers: Record<string, string>, kind: RefusalKind): GatewayError {
  if (waitMs !== null) {
    const ms = waitMs < MAX_RETRY_AFTER_MS ? Math.max(1, Math.ceil(waitMs)) : MAX_RETRY_AFTER_MS;
    headers['retry-after'] = String(Math.ceil(ms / 1000));
    headers['retry-after-ms'] = String(ms);
  } else headers[NO_RETRY] = 'false';
  const err = new GatewayError('rate_limited', message, { wireCode: 'rate_limit_exceeded', headers });
  refusalKinds.set(err, kind);
  return err;
}

/**
 * A spent quota: `retry-after` until it resets (true, if long), and not retried by an SDK. `rateHeaders`: the
 * request's `x-ratelimit-*` headers, which every limited answer carries, this one too. `left`: what the quota still has.
 */
export function quotaExceeded(message: string, resetsAtMs: number, wallMs: number, rateHeaders: Record<string, string> | undefined, left: number): GatewayError {
  const resets = new Date(resetsAtMs).toISOString();
  const err = new GatewayError('quota_exceeded', `${message} The quota resets at ${resets}.`, {
    wireCode: 'insufficient_quota',
    headers: { ...rateHeaders, 'retry-after': String(Math.max(1, Math.ceil((resetsAtMs - wallMs) / 1000))), 'x-quota-reset': resets, [NO_RETRY]: 'false' },
  });
  refusalKinds.set(err, 'quota');
  quotaLeft.set(err, Math.max(0, Math.floor(left)));
  return err;
}

const quotaLeft = new WeakMap<GatewayError, number>();

/**
 * For a quota's refusal, the tokens that quota still had (as far as this process could tell); undefined for any
 * other error. A request reserved less than that would have passed it.
 */
export function quotaLeftOf(err: unknown): number | undefined {
  return err instanceof GatewayError ? quotaLeft.get(err) : undefined;
}

