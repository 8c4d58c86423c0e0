import { hash } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { GatewayError, systemClock, type Clock, type Principal } from '../core/index.js';
import { readList, readString } from './claims.js';
import type { CompiledAuth, CompiledIssuer } from './compile.js';
import { authFailureOf, unauthorized, type AuthFailure } from './failures.js';
import { createJwksSource, type JwksStats } from './jwks-source.js';
import { permissionsOf } from './permissions.js';
import { staticKeyResolver } from './static-keys.js';

/** The principal auth produces: core's Principal plus what the token said about groups and lifetime. */
export interface AuthPrincipal extends Principal {
  readonly groups: readonly string[];
  readonly issuer: string;
  readonly expiresAtMs: number;
}

/** Gateway-managed API keys (src/auth/keys): answered synchronously, a 401 thrown for a refused key. */
export interface ApiKeyVerifier {
  /** The whole header, `Bearer sk-…`. A promise only for a key id or secret not seen yet (its store is read once). */
  authenticate(authorization: string): AuthPrincipal | Promise<AuthPrincipal>;
  authenticateToken(token: string): AuthPrincipal | Promise<AuthPrincipal>;
}

export interface AuthenticatorOptions {
  clock?: Clock;
  /** Accepts `Bearer sk-…` beside JWTs when given. */
  apiKeys?: ApiKeyVerifier;
  /** For JWKS fetches; defaults to global fetch. */
  fetch?: typeof globalThis.fetch;
  jwksTimeoutMs?: number;
}

export interface AuthenticatorStats {
  verified: number;
  cacheHits: number;
  readonly failures: Partial<Record<AuthFailure, number>>;
  /** Per JWKS issuer. */
  readonly jwks: ReadonlyMap<string, Readonly<JwksStats>>;
}

export interface Authenticator {
  /**
   * Resolves the principal or throws GatewayError 401 (503 when an issuer's keys were never reachable). A token
   * verified before is answered synchronously (no promise on the hot path); anything else returns a promise.
   */
  authenticate(authorization: string | undefined): AuthPrincipal | Promise<AuthPrincipal>;
  /** Whether a path is served without a token (`open_routes`). */
  isOpenRoute(path: string): boolean;
  readonly stats: Readonly<AuthenticatorStats>;
}

// Scheme is case-insensitive (RFC 7235); the token is three base64url parts, the last empty for `alg: none`
// so that such tokens get the precise "algorithm not allowed" answer rather than "malformed".
const BEARER = /^bearer +(\S+) *$/i;

/** `Bearer ` in any case: an API key is taken under that scheme only, as a JWT is. */
function isBearerScheme(authorization: string): boolean {
  return authorization.startsWith('Bearer ') || authorization.slice(0, 7).toLowerCase() === 'bearer ';
}
const COMPACT_JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
// Headers up to this length are cached as they are; longer ones by their token's SHA-256.
const MAX_CACHED_HEADER = 2048;
// A cached header is found by its last characters (the signature's, random) and accepted only if the whole header is
// equal: hashing a few characters instead of a ~250-character header saves a good part of a hit's cost.
const CACHE_KEY_CHARS = 24;
const cacheKeyOf = (id: string) => (id.length > CACHE_KEY_CHARS ? id.slice(-CACHE_KEY_CHARS) : id);

function failureFromJose(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  if (err instanceof errors.JWTExpired) return unauthorized('expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return unauthorized('not_yet_valid');
    if (err.claim === 'aud') return unauthorized('wrong_audience');
    if (err.claim === 'iss') return unauthorized('wrong_issuer');
    if (err.reason === 'missing') return unauthorized('invalid_claims', `The token has no "${err.claim}" claim.`);
    return unauthorized('invalid_claims', `The token's "${err.claim}" claim is invalid.`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return unauthorized('bad_signature');
  if (err instanceof errors.JOSEAlgNotAllowed) return unauthorized('algorithm_not_allowed');
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return unauthorized('unknown_key');
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid || err instanceof errors.JOSENotSupported) return unauthorized('malformed');
  // Anything else (a key that fails to import, say) is still a token we cannot accept; its details stay in logs.
  return unauthorized('invalid_claims', 'The token could not be verified.');
}

interface CacheEntry {
  /** The whole header (or the long token's hash) this entry was verified for. */
  readonly id: string;
  readonly principal: AuthPrincipal;
  readonly expMs: number;
}

export function createAuthenticator(config: CompiledAuth, options: AuthenticatorOptions = {}): Authenticator {
  const clock = options.clock ?? systemClock;
  const apiKeys = options.apiKeys;
  const toleranceMs = config.clockToleranceSec * 1000;
  // A compact JWS is ASCII, so string length is its byte length; the header adds `Bearer `.
  const maxHeaderChars = config.maxTokenBytes + 16;
  const failures: Partial<Record<AuthFailure, number>> = {};
  const jwksStats = new Map<string, Readonly<JwksStats>>();
  const stats: AuthenticatorStats = { verified: 0, cacheHits: 0, failures, jwks: jwksStats };

  const keys = new Map<string, JWTVerifyGetKey>();
  for (const iss of config.issuers.values()) {
    if (iss.key) {
      keys.set(iss.issuer, staticKeyResolver(iss.key));
    } else if (iss.jwks) {
      const source = createJwksSource({ ...iss.jwks, timeoutMs: options.jwksTimeoutMs ?? iss.jwks.timeoutMs, clock, ...(options.fetch ? { fetch: options.fetch } : {}) });
      keys.set(iss.issuer, source.getKey);
      jwksStats.set(iss.issuer, source.stats);
    }
  }

  // Verified Authorization headers (long ones by their token's SHA-256, so memory stays bounded whatever the token
  // size), oldest evicted first. An entry is used only until the token's exp (+ tolerance), so caching never extends
  // a token's life.
  const cache = new Map<string, CacheEntry>();

  const fail = (reason: AuthFailure, detail?: string): never => {
    failures[reason] = (failures[reason] ?? 0) + 1;
    throw unauthorized(reason, detail);
  };

  const toPrincipal = (payload: JWTPayload, issuer: CompiledIssuer): AuthPrincipal => {
    const subject = readString(payload, config.claims.subject);
    if (subject === null) return fail('invalid_claims', `The token has no "${config.claims.subject.join('.')}" claim.`);
    const scopes = new Set<string>();
    // A bare `*` is the unauthenticated gateway's own grant (auth: none); from a token it would make any IdP token that
    // carries `*` for another service a gateway admin, so it grants nothing: the gateway's scopes are `models:…` and `admin`.
    for (const path of config.claims.scopes) for (const s of readList(payload, path)) if (s !== '*') scopes.add(s);
    const principal: AuthPrincipal = Object.freeze({
      subject,
      team: readString(payload, config.claims.team),
      scopes,
      groups: Object.freeze(config.claims.groups ? readList(payload, config.claims.groups) : []),
      issuer: issuer.issuer,
      expiresAtMs: (payload.exp ?? 0) * 1000,
    });
    permissionsOf(principal); // compile scopes once, here, instead of on the first authorize()
    return principal;
  };

  /**
   * What jose leaves to the caller: a token issued in the future (a skewed or forged clock) and, when the issuer
   * sets `max_token_lifetime`, a token that lives too long (`exp: 1e20`). Runs once per token, not per request.
   */
  function checkLifetime(payload: JWTPayload, issuer: CompiledIssuer): void {
    const nowSec = clock.wallMs() / 1000;
    const iat = typeof payload.iat === 'number' ? payload.iat : null;
    if (iat !== null && iat > nowSec + config.clockToleranceSec) fail('issued_in_future');
    if (issuer.maxLifetimeSec !== null && (payload.exp ?? 0) - (iat ?? nowSec) > issuer.maxLifetimeSec + config.clockToleranceSec) {
      fail('lifetime_too_long');
    }
  }

  async function verify(token: string): Promise<AuthPrincipal> {
    let alg: unknown;
    let iss: unknown;
    try {
      // Unverified reads, used only to pick the issuer's key set; nothing from them is trusted.
      alg = decodeProtectedHeader(token).alg;
      iss = decodeJwt(token).iss;
    } catch {
      return fail('malformed');
    }
    if (typeof alg !== 'string' || alg === 'none') return fail('algorithm_not_allowed');
    const issuer = typeof iss === 'string' ? config.issuers.get(iss) : undefined;
    if (!issuer) return fail('wrong_issuer');
    if (!(issuer.algorithms as readonly string[]).includes(alg)) return fail('algorithm_not_allowed');
    const key = keys.get(issuer.issuer);
    if (!key) return fail('unknown_key');
    let payload: JWTPayload;
    try {
      const verifyOptions = {
        issuer: issuer.issuer,
        audience: issuer.audience as string | string[],
        algorithms: issuer.algorithms as string[],
        clockTolerance: config.clockToleranceSec,
        currentDate: new Date(clock.wallMs()),
        requiredClaims: ['exp'],
      };
      payload = (await jwtVerify(token, key, verifyOptions)).payload;
    } catch (err) {
      const ge = failureFromJose(err);
      const reason = authFailureOf(ge);
      if (reason) failures[reason] = (failures[reason] ?? 0) + 1;
      throw ge;
    }
    checkLifetime(payload, issuer);
    stats.verified++;
    return toPrincipal(payload, issuer);
  }

  return {
    stats,
    isOpenRoute: (path) => config.openRoutes.has(path),
    authenticate(authorization) {
      // An API key (`Bearer sk-…`; a JWT never starts with `sk-`) goes to the key registry: one Map probe once seen.
      if (apiKeys !== undefined && authorization !== undefined && authorization.startsWith('sk-', 7) && isBearerScheme(authorization)) return apiKeys.authenticate(authorization);
      // Hot path: the exact header of a client seen before, answered without parsing or a promise.
      const hit = authorization !== undefined && authorization.length <= MAX_CACHED_HEADER ? cached(authorization) : null;
      return hit ?? authenticateSlow(authorization);
    },
  };

  /** The cached principal for `id` while its token is valid; an expired entry is dropped. */
  function cached(id: string): AuthPrincipal | null {
    const key = cacheKeyOf(id);
    const hit = cache.get(key);
    // Another header ending the same way (a forgery reusing a signature, or chance) is a miss, never a hit.
    if (hit === undefined || hit.id !== id) return null;
    if (clock.wallMs() < hit.expMs + toleranceMs) {
      stats.cacheHits++;
      return hit.principal;
    }
    cache.delete(key);
    return null;
  }

  async function authenticateSlow(authorization: string | undefined): Promise<AuthPrincipal> {
    if (authorization === undefined || authorization.trim() === '') return fail('missing');
    if (authorization.length > maxHeaderChars) return fail('too_large');
    const m = BEARER.exec(authorization.trim());
    if (!m && !/^bearer(\s|$)/i.test(authorization.trim())) {
      return fail('malformed', 'The Authorization header must use the Bearer scheme: "Authorization: Bearer <JWT>".');
    }
    const token = m?.[1];
    if (apiKeys !== undefined && token?.startsWith('sk-')) return apiKeys.authenticateToken(token);
    // An API key where this gateway issues none: say so, rather than that it is not a well-formed JWT.
    if (token?.startsWith('sk-')) return fail('malformed', 'This gateway does not accept API keys (its keys section is off): use a JWT from one of its issuers.');
    if (token === undefined || !COMPACT_JWT.test(token)) return fail('malformed');
    // Matched on the whole header (never only the signature, which a forger could pair with another payload); long
    // ones on the token's hash, so that the cache's memory stays bounded.
    // Short headers were looked up on the hot path already.
    const long = authorization.length > MAX_CACHED_HEADER;
    const id = long ? hash('sha256', token, 'base64url') : authorization;
    const hit = long ? cached(id) : null;
    if (hit) return hit;
    const principal = await verify(token);
    if (config.tokenCacheSize > 0) {
      cache.set(cacheKeyOf(id), { id, principal, expMs: principal.expiresAtMs });
      if (cache.size > config.tokenCacheSize) {
        const oldest = cache.keys().next();
        if (!oldest.done) cache.delete(oldest.value);
      }
    }
    return principal;
  }
}
