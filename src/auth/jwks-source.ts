import { createLocalJWKSet, createRemoteJWKSet, customFetch, errors, type FetchImplementation, type JWTVerifyGetKey } from 'jose';
import type { Clock } from '../core/index.js';
import { keysUnavailable } from './failures.js';

export interface JwksSourceOptions {
  url: string;
  /** Minimum time between refetches caused by an unknown `kid` (jose's `cooldownDuration`). */
  cooldownMs: number;
  /** After this age the keys are refreshed in the background; requests keep using the old set meanwhile. */
  cacheMaxAgeMs: number;
  timeoutMs: number;
  clock: Clock;
  fetch?: typeof globalThis.fetch;
}

export interface JwksStats {
  fetches: number;
  fetchErrors: number;
  /** Keys served from the last good copy because the issuer was unreachable. */
  servedStale: number;
}

export interface JwksSource {
  readonly getKey: JWTVerifyGetKey;
  readonly stats: Readonly<JwksStats>;
}

/** Errors that are about the token's key lookup, not about reaching the issuer. */
function isLookupError(err: unknown): boolean {
  return (
    err instanceof errors.JWKSNoMatchingKey ||
    err instanceof errors.JWKSMultipleMatchingKeys ||
    err instanceof errors.JOSEAlgNotAllowed ||
    err instanceof errors.JOSENotSupported
  );
}

/**
 * jose's remote JWKS (request dedupe, timeout, refetch on an unknown `kid` at most once per cooldown) with two
 * additions jose does not do:
 *   - stale-while-revalidate: jose gets `cacheMaxAge: Infinity`, and refresh by age happens here in the background,
 *     so no request ever waits on the issuer except for the very first fetch and unknown-`kid` refetches;
 *   - serve-stale-if-down: every successful fetch is also kept as a local key set; when the issuer fails, that copy
 *     answers for one cooldown without contacting the issuer again (a down issuer costs no latency).
 */
export function createJwksSource(options: JwksSourceOptions): JwksSource {
  const { clock } = options;
  const baseFetch = options.fetch ?? globalThis.fetch;
  const stats: JwksStats = { fetches: 0, fetchErrors: 0, servedStale: 0 };
  let lastGood: JWTVerifyGetKey | null = null;
  let lastGoodAt = Number.NEGATIVE_INFINITY;
  let downUntil = Number.NEGATIVE_INFINITY;
  let refreshing = false;

  // Sees every body jose fetches, so the last good set is exactly what jose last accepted.
  const tap: FetchImplementation = async (url, init) => {
    stats.fetches++;
    const res = await baseFetch(url, init);
    if (res.status !== 200) return res;
    const text = await res.text();
    try {
      lastGood = createLocalJWKSet(JSON.parse(text));
      lastGoodAt = clock.now();
      downUntil = Number.NEGATIVE_INFINITY;
    } catch {
      // jose parses the same text below and reports the malformed set.
    }
    return new Response(text, { status: 200, headers: res.headers });
  };

  const remote = createRemoteJWKSet(new URL(options.url), {
    cooldownDuration: options.cooldownMs,
    cacheMaxAge: Number.POSITIVE_INFINITY,
    timeoutDuration: options.timeoutMs,
    [customFetch]: tap,
  });

  const markDown = (): void => {
    stats.fetchErrors++;
    downUntil = clock.now() + options.cooldownMs;
  };

  const getKey: JWTVerifyGetKey = async (header, token) => {
    const now = clock.now();
    if (lastGood && now < downUntil) {
      stats.servedStale++;
      return lastGood(header, token);
    }
    if (lastGood && !refreshing && now - lastGoodAt >= options.cacheMaxAgeMs) {
      refreshing = true;
      remote
        .reload()
        .catch(markDown)
        .finally(() => {
          refreshing = false;
        });
    }
    try {
      return await remote(header, token);
    } catch (err) {
      if (isLookupError(err)) throw err;
      markDown();
      if (!lastGood) throw keysUnavailable();
      stats.servedStale++;
      return lastGood(header, token);
    }
  };

  return { getKey, stats };
}
