import { SignJWT } from 'jose';
import { parseDuration } from '../core/index.js';

export interface MintDevTokenOptions {
  secret: string;
  sub: string;
  team?: string | null;
  /** Space-separated scopes, e.g. `models:* admin`. */
  scope?: string;
  /** Lifetime such as `1h` (default) or milliseconds. */
  ttl?: string | number;
  issuer?: string;
  audience?: string | string[];
  /** Epoch ms to mint at; defaults to now. */
  nowMs?: number;
}

export const DEV_ISSUER = 'infergate-dev';
export const DEV_AUDIENCE = 'infergate';

/** Signs an HS256 development token with the claim names of the default claim mapping. */
export async function mintDevToken(options: MintDevTokenOptions): Promise<string> {
  const ttlMs = parseDuration(options.ttl ?? '1h');
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new Error(`invalid ttl ${JSON.stringify(options.ttl)}; use e.g. 30m, 1h, 24h`);
  const nowS = Math.floor((options.nowMs ?? Date.now()) / 1000);
  const claims: Record<string, unknown> = { scope: options.scope ?? '' };
  if (options.team) claims.team = options.team;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.sub)
    .setIssuer(options.issuer ?? DEV_ISSUER)
    .setAudience(options.audience ?? DEV_AUDIENCE)
    .setIssuedAt(nowS)
    .setExpirationTime(nowS + Math.ceil(ttlMs / 1000))
    .sign(new TextEncoder().encode(options.secret));
}
