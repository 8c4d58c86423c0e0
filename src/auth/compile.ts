import { randomBytes, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { AuthSection, IssuerConfig, JwtAlgorithm } from '../config/governance-schema.js';
import { compileClaimMapping, type ClaimMapping } from './claims.js';
import { ensureDevSecretSync, readSecretFileSync } from './dev-secret.js';
import { AuthConfigError, hmacKey, importPublicKey } from './key-material.js';

export interface CompiledJwks {
  readonly url: string;
  readonly cooldownMs: number;
  readonly cacheMaxAgeMs: number;
  readonly timeoutMs: number;
}

export interface CompiledIssuer {
  readonly issuer: string;
  readonly audience: string | readonly string[];
  readonly algorithms: readonly JwtAlgorithm[];
  /** A static key (HMAC bytes or a public KeyObject), or null when keys come from a JWKS. */
  readonly key: KeyObject | Uint8Array | null;
  readonly jwks: CompiledJwks | null;
  /** Longest accepted `exp - iat` (or `exp` from now without `iat`), in seconds; null for no limit. */
  readonly maxLifetimeSec: number | null;
}

export interface CompiledAuth {
  /** By exact `iss`: a token is routed to its key set by its (unverified) issuer, then verified against it. */
  readonly issuers: ReadonlyMap<string, CompiledIssuer>;
  readonly claims: ClaimMapping;
  readonly maxTokenBytes: number;
  readonly clockToleranceSec: number;
  readonly openRoutes: ReadonlySet<string>;
  readonly tokenCacheSize: number;
}

export interface CompileAuthOptions {
  /** Directory relative `secret_file` paths resolve against (the config file's directory); default cwd. */
  baseDir?: string;
  /**
   * False to check a config without touching the disk (`infergate check-config`): a missing `secret_file` that
   * `generate_if_missing` would create is taken as fine, with a throwaway secret. Default true.
   */
  createMissing?: boolean;
}

const DEFAULT_JWKS_COOLDOWN_MS = 30_000;
const DEFAULT_JWKS_MAX_AGE_MS = 10 * 60_000;
const DEFAULT_JWKS_TIMEOUT_MS = 5_000;

function compileIssuer(cfg: IssuerConfig, index: number, options: CompileAuthOptions): CompiledIssuer {
  const path = ['issuers', index];
  let key: KeyObject | Uint8Array | null = null;
  let jwks: CompiledJwks | null = null;
  if (cfg.secret !== undefined) {
    key = hmacKey(cfg.secret, cfg.algorithms, [...path, 'secret']);
  } else if (cfg.secret_file !== undefined) {
    const file = isAbsolute(cfg.secret_file) ? cfg.secret_file : resolve(options.baseDir ?? process.cwd(), cfg.secret_file);
    let secret: string;
    try {
      secret =
        cfg.generate_if_missing && options.createMissing === false && !existsSync(file)
          ? randomBytes(32).toString('base64url')
          : cfg.generate_if_missing
            ? ensureDevSecretSync(file)
            : readSecretFileSync(file);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new AuthConfigError(`cannot read secret_file ${file} (${typeof code === 'string' ? code : 'error'})`, [...path, 'secret_file']);
    }
    key = hmacKey(secret, cfg.algorithms, [...path, 'secret_file']);
  } else if (cfg.public_key !== undefined) {
    key = importPublicKey(cfg.public_key, cfg.algorithms, [...path, 'public_key']);
  } else if (cfg.jwks_url !== undefined) {
    jwks = Object.freeze({
      url: cfg.jwks_url,
      cooldownMs: cfg.jwks_cooldown ?? DEFAULT_JWKS_COOLDOWN_MS,
      cacheMaxAgeMs: cfg.jwks_cache_max_age ?? DEFAULT_JWKS_MAX_AGE_MS,
      timeoutMs: cfg.jwks_timeout ?? DEFAULT_JWKS_TIMEOUT_MS,
    });
  } else {
    throw new AuthConfigError('an issuer needs exactly one key source', path);
  }
  return Object.freeze({
    issuer: cfg.issuer,
    audience: typeof cfg.audience === 'string' ? cfg.audience : Object.freeze([...cfg.audience]),
    algorithms: Object.freeze([...cfg.algorithms]),
    key,
    jwks,
    maxLifetimeSec: cfg.max_token_lifetime === undefined ? null : Math.floor(cfg.max_token_lifetime / 1000),
  });
}

/**
 * Validated `auth` section → keys parsed, secrets read, claim paths split. Returns null for `auth: none`.
 * Synchronous (runs once per config load); reads `secret_file`, creating it when `generate_if_missing` is set.
 * Throws AuthConfigError with a path inside the `auth` section.
 */
export function compileAuthConfig(section: AuthSection, options: CompileAuthOptions = {}): CompiledAuth | null {
  if (section === 'none') return null;
  const issuers = new Map<string, CompiledIssuer>();
  section.issuers.forEach((cfg, i) => issuers.set(cfg.issuer, compileIssuer(cfg, i, options)));
  return Object.freeze({
    issuers,
    claims: compileClaimMapping(section.claims),
    maxTokenBytes: section.max_token_bytes,
    clockToleranceSec: Math.round(section.clock_tolerance / 1000),
    openRoutes: new Set(section.open_routes),
    tokenCacheSize: section.token_cache_size,
  });
}
