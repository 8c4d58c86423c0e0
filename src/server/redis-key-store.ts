import type { KeyLimits, KeyRow, KeyStore } from '../auth/index.js';
import { GatewayError } from '../core/index.js';
import { createRedisRecordSet, type StoredRecord } from '../state/index.js';

export interface RedisKeyStoreOptions {
  url: string;
  /** `state.prefix`: keys live under `<prefix>apikeys:`. */
  prefix: string;
}

/** What Redis holds of a key: the row's fields, the secret's HMAC hashes only (never a secret). */
interface Wire {
  id: string;
  hash: string;
  prev_hash: string | null;
  prev_until_ms: number | null;
  subject: string;
  team: string | null;
  scopes: string;
  label: string;
  created_ms: number;
  expires_ms: number | null;
  revoked_ms: number | null;
  last_used_ms: number | null;
  limits: KeyLimits;
  updated_ms: number;
}

const toWire = (r: KeyRow): Wire => ({
  id: r.id,
  hash: r.hash,
  prev_hash: r.prevHash,
  prev_until_ms: r.prevUntilMs,
  subject: r.subject,
  team: r.team,
  scopes: r.scopes.join(' '),
  label: r.label,
  created_ms: r.createdMs,
  expires_ms: r.expiresMs,
  revoked_ms: r.revokedMs,
  last_used_ms: r.lastUsedMs,
  limits: r.limits,
  updated_ms: r.updatedMs,
});

function fromStored(s: StoredRecord): KeyRow {
  const w = JSON.parse(s.text) as Wire;
  const lastUsed = Math.max(w.last_used_ms ?? 0, s.side);
  return {
    id: w.id,
    hash: w.hash,
    prevHash: w.prev_hash,
    prevUntilMs: w.prev_until_ms,
    subject: w.subject,
    team: w.team,
    scopes: Object.freeze(w.scopes.split(' ').filter((x) => x.length > 0)),
    label: w.label,
    createdMs: w.created_ms,
    expiresMs: w.expires_ms,
    revokedMs: w.revoked_ms,
    lastUsedMs: lastUsed > 0 ? lastUsed : null,
    limits: Object.freeze({ ...w.limits }),
    updatedMs: w.updated_ms,
  };
}

/**
 * Gateway-managed keys on the replicas' Redis (`state.redis`), for replicas without a common disk: the key store
 * interface of auth/ over the record set of state/ (neither knows the other; this file is the seam). A change is
 * one atomic script that bumps the set's sequence, and every replica's registry asks for changes since its sequence
 * each `keys.poll_interval`: one round trip, nothing read when nothing changed. Last-used times only ever go up and
 * are not changes other replicas need to hear about.
 */
export function createRedisKeyStore(options: RedisKeyStoreOptions): KeyStore & {
  ready(timeoutMs?: number): Promise<boolean>;
  /** Copies rows in unless Redis holds the same or a newer version of them (the one-time import from SQLite). */
  importRows(rows: readonly KeyRow[]): Promise<void>;
} {
  const set = createRedisRecordSet({ url: options.url, prefix: options.prefix, name: 'apikeys' });
  return {
    ready: (t) => set.ready(t),
    async loadAll() {
      const { records, seq } = await set.load();
      return { rows: records.map(fromStored), seq };
    },
    async changesSince(seq) {
      const changes = await set.changesSince(seq);
      return changes && { rows: changes.records.map(fromStored), seq: changes.seq };
    },
    async write(row, mode) {
      // A change that cannot reach Redis is not made anywhere (the registry applies it only after this resolves).
      const seq = await set.write(row.id, JSON.stringify(toWire(row)), row.updatedMs, mode).catch((err: unknown) => {
        throw new GatewayError('state_unavailable', 'The API key store (Redis) is unreachable: the change was not made. Please retry shortly.', {
          wireCode: 'api_keys_unavailable',
          headers: { 'retry-after': '1' },
          cause: err,
        });
      });
      if (seq === null) throw new Error(`API key id ${row.id} exists already`);
      return seq;
    },
    async touch(used) {
      await set.raise(used.map((u) => ({ id: u.id, value: u.ms })));
    },
    async importRows(rows) {
      for (const r of rows) await set.restore(r.id, JSON.stringify(toWire(r)), r.updatedMs);
    },
    close: () => set.close(),
  };
}
