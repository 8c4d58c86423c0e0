import type { AuthPrincipal } from '../authenticator.js';
import { permissionsOf } from '../permissions.js';

/** Optional per-key limits, enforced by the limits module as rules matching this key (`match: {key: <id>}`). */
export interface KeyLimits {
  readonly rpm?: number;
  readonly tpm?: number;
  readonly concurrency?: number;
  readonly tokens_per_day?: number;
  readonly tokens_per_month?: number;
}

/** A stored key as the store reads and writes it. Only hashes are ever stored. */
export interface KeyRow {
  id: string;
  hash: string;
  /** The hash of the previous secret while a rotation's overlap lasts. */
  prevHash: string | null;
  prevUntilMs: number | null;
  subject: string;
  team: string | null;
  scopes: readonly string[];
  label: string;
  createdMs: number;
  expiresMs: number | null;
  revokedMs: number | null;
  lastUsedMs: number | null;
  limits: KeyLimits;
  updatedMs: number;
}

/** What the admin API and console show of a key: never the secret, never its hash. */
export interface KeyView {
  object: 'api_key';
  id: string;
  /** How the key starts, for recognising it: `sk-ig-<id>-…`. */
  prefix: string;
  subject: string;
  team: string | null;
  scopes: readonly string[];
  label: string;
  limits: KeyLimits;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  rotation_overlap_until: string | null;
  status: 'active' | 'expired' | 'revoked';
}

export const KEY_ISSUER = 'infergate:api-key';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * One key in memory. The object stays the same across updates (its fields change in place), so entries of the
 * verified-key cache see a revocation or a new expiry at once without being found and dropped.
 */
export class KeyRecord {
  row: KeyRow;
  principal: AuthPrincipal;
  /** The wall time of the latest use not yet written (0: none), so last_used_at says when, not when it was flushed. */
  usedAtMs = 0;

  constructor(row: KeyRow) {
    this.row = row;
    this.principal = principalOf(row);
  }

  replace(row: KeyRow): void {
    const p = this.row;
    const samePrincipal = p.subject === row.subject && p.team === row.team && p.expiresMs === row.expiresMs && p.scopes.join(' ') === row.scopes.join(' ');
    // A newer last-used time from another process must not be replaced by this process's older one.
    if (p.lastUsedMs !== null && (row.lastUsedMs === null || row.lastUsedMs < p.lastUsedMs)) row.lastUsedMs = p.lastUsedMs;
    this.row = row;
    if (!samePrincipal) this.principal = principalOf(row);
  }

  view(nowMs: number): KeyView {
    const r = this.row;
    return {
      object: 'api_key',
      id: r.id,
      prefix: `sk-ig-${r.id}-`,
      subject: r.subject,
      team: r.team,
      scopes: r.scopes,
      label: r.label,
      limits: r.limits,
      created_at: iso(r.createdMs)!,
      expires_at: iso(r.expiresMs),
      revoked_at: iso(r.revokedMs),
      last_used_at: iso(r.lastUsedMs),
      rotation_overlap_until: r.prevUntilMs !== null && r.prevUntilMs > nowMs ? iso(r.prevUntilMs) : null,
      status: r.revokedMs !== null ? 'revoked' : r.expiresMs !== null && r.expiresMs <= nowMs ? 'expired' : 'active',
    };
  }
}

function principalOf(row: KeyRow): AuthPrincipal {
  const principal: AuthPrincipal = Object.freeze({
    subject: row.subject,
    team: row.team,
    scopes: new Set(row.scopes),
    keyId: row.id,
    groups: Object.freeze([]),
    issuer: KEY_ISSUER,
    expiresAtMs: row.expiresMs ?? Number.POSITIVE_INFINITY,
  });
  permissionsOf(principal); // compiled once per key version, never per request
  return principal;
}
