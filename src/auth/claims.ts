import type { JWTPayload } from 'jose';
import type { ClaimsConfig } from '../config/governance-schema.js';

/** Claim paths split once at compile: `realm_access.roles` → ['realm_access', 'roles']. */
export interface ClaimMapping {
  readonly subject: readonly string[];
  readonly team: readonly string[];
  readonly groups: readonly string[] | null;
  readonly scopes: readonly (readonly string[])[];
}

export function compileClaimMapping(cfg: ClaimsConfig): ClaimMapping {
  const split = (p: string): readonly string[] => Object.freeze(p.split('.'));
  const scopes = typeof cfg.scopes === 'string' ? [cfg.scopes] : cfg.scopes;
  return Object.freeze({
    subject: split(cfg.subject),
    team: split(cfg.team),
    groups: cfg.groups ? split(cfg.groups) : null,
    scopes: Object.freeze(scopes.map(split)),
  });
}

function read(payload: JWTPayload, path: readonly string[]): unknown {
  let v: unknown = payload;
  for (const key of path) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** A scalar claim as a string; numbers are accepted because some IdPs emit numeric subject ids. */
export function readString(payload: JWTPayload, path: readonly string[]): string | null {
  const v = read(payload, path);
  if (typeof v === 'string' && v.length > 0) return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

/**
 * A list claim given either as a space-separated string (OAuth `scope`) or an array of strings (`scp`, groups).
 * Separated by U+0020 alone, as RFC 6749 §3.3 defines `scope`: a scope holding a tab or a no-break space is one
 * (malformed) scope that grants nothing, never two, so `models:x\u00a0admin` cannot be read as `admin`.
 */
export function readList(payload: JWTPayload, path: readonly string[]): string[] {
  const v = read(payload, path);
  if (typeof v === 'string') return v.split(' ').filter((s) => s.length > 0);
  if (Array.isArray(v)) return v.filter((s): s is string => typeof s === 'string' && s.length > 0);
  return [];
}
