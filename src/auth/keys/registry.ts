import { timingSafeEqual } from 'node:crypto';
import { GatewayError, systemClock, type Clock } from '../../core/index.js';
import type { ApiKeyVerifier, AuthPrincipal } from '../authenticator.js';
import { unauthorized } from '../failures.js';
import { hashKey, keyIdOf, newKeyId, newKeySecret } from './format.js';
import { KeyRecord, type KeyLimits, type KeyRow, type KeyView } from './record.js';
import { keyRules, type KeyRuleSet } from './rules.js';
import type { KeyStore } from './sqlite-store.js';

export interface KeyInput {
  subject: string;
  team?: string | null;
  scopes: readonly string[];
  label?: string;
  expiresMs?: number | null;
  limits?: KeyLimits;
}

export type KeyPatch = Partial<Omit<KeyInput, 'subject'>> & { subject?: string };

export interface KeyRegistryOptions {
  store: KeyStore;
  pepper: Uint8Array;
  clock?: Clock;
  pollIntervalMs?: number;
  lastUsedFlushMs?: number;
  cacheSize?: number;
  /**
   * A store on another host (Redis) can become unreachable, and then revocations made elsewhere cannot be seen:
   * once no read of it has succeeded for this long, every key is refused with a 503 until one does (JWTs are not
   * affected). Unset: no bound (a local SQLite file).
   */
  maxStaleMs?: number;
  onError?: (err: unknown) => void;
}

export interface KeyRegistryStats {
  verified: number;
  cacheHits: number;
  refused: number;
  keys: number;
}

/** Changes are written to the store first (so they reach other processes), then applied here at once. */
export interface KeyRegistry extends ApiKeyVerifier {
  create(input: KeyInput): Promise<{ key: KeyView; secret: string }>;
  list(): KeyView[];
  get(id: string): KeyView;
  update(id: string, patch: KeyPatch): Promise<KeyView>;
  /** A new secret for the same key; the old one keeps working for `overlapMs` (0: stops at once). */
  rotate(id: string, overlapMs: number): Promise<{ key: KeyView; secret: string }>;
  revoke(id: string): Promise<KeyView>;
  /** The per-key limit and quota rules of active keys, in the config's rule shape. */
  rules(): KeyRuleSet;
  /** Called after the rule set changed (a key with limits created, edited, revoked or rotated elsewhere). */
  onRulesChange(listener: () => void): void;
  /** Reads other processes' changes now (the poll does this every interval). */
  refresh(): Promise<void>;
  readonly stats: Readonly<KeyRegistryStats>;
  /** Writes pending last-used times, then closes the store. */
  close(): Promise<void>;
}

interface CacheEntry {
  readonly rec: KeyRecord;
  /** The stored hash this header matched: the current secret's, or the previous one's during a rotation. */
  readonly hash: string;
}

const notFound = (id: string) => new GatewayError('not_found', `No API key with id ${JSON.stringify(id.slice(0, 40))}.`, { param: 'id', wireCode: 'api_key_not_found' });

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Every key in memory, verified keys remembered by their exact Authorization header. After a key's first use a
 * request costs one Map probe plus a few field reads on the key's record (revoked? expired? still this secret?),
 * which is why records are updated in place. Changes made here apply at once; changes made by other processes
 * sharing the store arrive with the next poll (`pollIntervalMs`, 250 ms by default).
 */
export async function createKeyRegistry(options: KeyRegistryOptions): Promise<KeyRegistry> {
  const { store, pepper } = options;
  const clock = options.clock ?? systemClock;
  const cacheSize = options.cacheSize ?? 100_000;
  const records = new Map<string, KeyRecord>();
  const cache = new Map<string, CacheEntry>();
  const listeners: (() => void)[] = [];
  const stats: KeyRegistryStats = { verified: 0, cacheHits: 0, refused: 0, keys: 0 };
  let rulesText = '';
  const maxStaleMs = options.maxStaleMs;
  /** When a read of the store last succeeded, and whether that is too long ago to trust what is in memory. */
  let freshAt = clock.now();
  let stale = false;
  /** One store read at a time for unknown key ids: a flood of made-up keys costs one round trip per read. */
  let lookup: Promise<void> | null = null;
  let ruleSet: KeyRuleSet = { limits: [], quotas: [] };

  let seq = -1;
  try {
    const loaded = await store.loadAll();
    seq = loaded.seq;
    for (const row of loaded.rows) records.set(row.id, new KeyRecord(row));
  } catch (err) {
    // A remote store down at start: the process starts (JWTs work) and refuses keys until a read succeeds; the
    // first one asks for every change since -1, which is every key.
    if (maxStaleMs === undefined) throw err;
    options.onError?.(err);
    stale = true;
  }
  stats.keys = records.size;
  recomputeRules(false);

  /** Rebuilds the rule set; listeners hear only of a real change (a key without limits changes nothing). */
  function recomputeRules(notify: boolean): void {
    const next = keyRules(records.values(), clock.wallMs());
    const text = JSON.stringify(next);
    if (text === rulesText) return;
    rulesText = text;
    ruleSet = next;
    if (notify) for (const l of listeners) l();
  }

  function apply(row: KeyRow): void {
    const rec = records.get(row.id);
    if (rec) rec.replace(row);
    else records.set(row.id, new KeyRecord(row));
    stats.keys = records.size;
  }

  async function refresh(): Promise<void> {
    const changes = await store.changesSince(seq);
    freshAt = clock.now();
    stale = false;
    if (!changes) return;
    seq = changes.seq;
    for (const row of changes.rows) apply(row);
    recomputeRules(true);
  }

  async function flushLastUsed(): Promise<void> {
    const used: { id: string; ms: number }[] = [];
    for (const rec of records.values()) {
      const ms = rec.usedAtMs;
      if (ms === 0) continue;
      rec.usedAtMs = 0;
      rec.row.lastUsedMs = ms;
      used.push({ id: rec.row.id, ms });
    }
    if (used.length > 0) await store.touch(used);
  }

  // One run at a time: a slow store never piles up polls; a failure is reported and retried at the next tick.
  const guard = (fn: () => Promise<void>) => {
    let running = false;
    return () => {
      if (running) return;
      running = true;
      fn()
        .catch((err: unknown) => options.onError?.(err))
        .finally(() => {
          running = false;
        });
    };
  };
  const guardedRefresh = guard(refresh);
  const poll = setInterval(() => {
    // Checked here, not per request: the hot path reads one boolean.
    if (maxStaleMs !== undefined && !stale && clock.now() - freshAt > maxStaleMs) {
      stale = true;
      options.onError?.(new Error(`the key store has not answered for ${maxStaleMs} ms: API keys are refused until it does`));
    }
    guardedRefresh();
  }, options.pollIntervalMs ?? 250);
  poll.unref();
  const flusher = setInterval(guard(flushLastUsed), options.lastUsedFlushMs ?? 5000);
  flusher.unref();

  /** `rec`: the key whose secret matched (revoked, expired, rotated out): the refusal is put down to it. */
  const fail = (reason: 'missing' | 'unknown_key' | 'expired' | 'revoked', detail?: string, rec?: KeyRecord): never => {
    stats.refused++;
    throw unauthorized(reason, detail, rec?.principal);
  };

  const storeAway = () =>
    new GatewayError('state_unavailable', 'API keys cannot be checked right now: the key store is unreachable. Please retry shortly.', {
      wireCode: 'api_keys_unavailable',
      headers: { 'retry-after': '1' },
    });

  /** Whether the record still accepts this hash now; throws the precise 401 when it does not. */
  function check(rec: KeyRecord, hash: string): AuthPrincipal {
    if (stale) throw storeAway();
    const r = rec.row;
    // `hash` is one of the key's own (checked before this is reached): each refusal below is the key's holder.
    if (r.revokedMs !== null) return fail('revoked', `The API key ${r.id} was revoked.`, rec);
    if (hash !== r.hash) {
      if (hash !== r.prevHash || r.prevUntilMs === null || clock.wallMs() >= r.prevUntilMs) {
        return fail('unknown_key', `The API key was rotated; its previous secret no longer works. Use the new key for ${r.id}.`, rec);
      }
    }
    if (r.expiresMs !== null && clock.wallMs() >= r.expiresMs) return fail('expired', `The API key ${r.id} expired at ${new Date(r.expiresMs).toISOString()}.`, rec);
    rec.usedAtMs = clock.wallMs();
    return rec.principal;
  }

  /**
   * A well-formed id this process has not heard of, or a secret that matches neither of a known key's hashes, may
   * come from a create or a rotation made a moment ago through another process: the store is read once (joined
   * with any read under way) before the key is refused, so a new key or secret works everywhere at once, not only
   * after the next poll. A flood of made-up keys costs one store read at a time, never one per request.
   */
  function verifyToken(token: string, cacheId: string): AuthPrincipal | Promise<AuthPrincipal> {
    const id = keyIdOf(token);
    const rec = id === null ? undefined : records.get(id);
    const hash = hashKey(pepper, token);
    if (id !== null && (rec === undefined || !matches(rec, hash))) {
      lookup ??= refresh().finally(() => {
        lookup = null;
      });
      // A failed read is the poll's to report (once per interval): made-up keys must not flood the log.
      return lookup.then(
        () => verifyKnown(token, cacheId),
        () => verifyKnown(token, cacheId),
      );
    }
    return verifyKnown(token, cacheId, hash);
  }

  const matches = (rec: KeyRecord, hash: string) => sameHash(hash, rec.row.hash) || (rec.row.prevHash !== null && sameHash(hash, rec.row.prevHash));

  function verifyKnown(token: string, cacheId: string, knownHash?: string): AuthPrincipal {
    if (stale) throw storeAway();
    const id = keyIdOf(token);
    const rec = id === null ? undefined : records.get(id);
    if (!rec) return fail('unknown_key', 'The API key is not valid.');
    const hash = knownHash ?? hashKey(pepper, token);
    const r = rec.row;
    const matched = sameHash(hash, r.hash) ? r.hash : r.prevHash !== null && sameHash(hash, r.prevHash) ? r.prevHash : null;
    if (matched === null) return fail('unknown_key', 'The API key is not valid.');
    const principal = check(rec, matched);
    stats.verified++;
    if (cacheSize > 0) {
      cache.set(cacheId, { rec, hash: matched });
      if (cache.size > cacheSize) cache.delete(cache.keys().next().value!);
    }
    return principal;
  }

  function mustGet(id: string): KeyRecord {
    const rec = records.get(id);
    if (!rec) throw notFound(id);
    return rec;
  }

  async function save(row: KeyRow, mode: 'insert' | 'update'): Promise<KeyRecord> {
    await store.write(row, mode);
    apply(row);
    recomputeRules(true);
    return records.get(row.id)!;
  }

  return {
    stats,
    authenticate(authorization) {
      const hit = cache.get(authorization);
      if (hit !== undefined) {
        stats.cacheHits++;
        return check(hit.rec, hit.hash);
      }
      // `Bearer sk-…`: the scheme is 7 characters whatever its case (the caller checked the `sk-` after it).
      return verifyToken(authorization.slice(7).trim(), authorization);
    },
    authenticateToken: (token) => verifyToken(token, `Bearer ${token}`),
    async create(input) {
      const now = clock.wallMs();
      let id = newKeyId();
      while (records.has(id)) id = newKeyId();
      const secret = newKeySecret(id);
      const row: KeyRow = {
        id,
        hash: hashKey(pepper, secret),
        prevHash: null,
        prevUntilMs: null,
        subject: input.subject,
        team: input.team ?? null,
        scopes: Object.freeze([...input.scopes]),
        label: input.label ?? '',
        createdMs: now,
        expiresMs: input.expiresMs ?? null,
        revokedMs: null,
        lastUsedMs: null,
        limits: Object.freeze({ ...input.limits }),
        updatedMs: now,
      };
      return { key: (await save(row, 'insert')).view(now), secret };
    },
    list() {
      const now = clock.wallMs();
      return [...records.values()].map((r) => r.view(now)).sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    },
    get: (id) => mustGet(id).view(clock.wallMs()),
    async update(id, patch) {
      const rec = mustGet(id);
      const now = clock.wallMs();
      const r = rec.row;
      const row: KeyRow = {
        ...r,
        subject: patch.subject ?? r.subject,
        team: patch.team === undefined ? r.team : patch.team,
        scopes: patch.scopes ? Object.freeze([...patch.scopes]) : r.scopes,
        label: patch.label ?? r.label,
        expiresMs: patch.expiresMs === undefined ? r.expiresMs : patch.expiresMs,
        limits: patch.limits ? Object.freeze({ ...patch.limits }) : r.limits,
        updatedMs: now,
      };
      return (await save(row, 'update')).view(now);
    },
    async rotate(id, overlapMs) {
      const rec = mustGet(id);
      if (rec.row.revokedMs !== null) throw new GatewayError('invalid_request', `The API key ${id} is revoked; create a new key instead.`, { wireCode: 'api_key_revoked' });
      const now = clock.wallMs();
      const secret = newKeySecret(id);
      const row: KeyRow = {
        ...rec.row,
        hash: hashKey(pepper, secret),
        prevHash: overlapMs > 0 ? rec.row.hash : null,
        prevUntilMs: overlapMs > 0 ? now + overlapMs : null,
        updatedMs: now,
      };
      return { key: (await save(row, 'update')).view(now), secret };
    },
    async revoke(id) {
      const rec = mustGet(id);
      const now = clock.wallMs();
      if (rec.row.revokedMs !== null) return rec.view(now);
      return (await save({ ...rec.row, revokedMs: now, prevHash: null, prevUntilMs: null, updatedMs: now }, 'update')).view(now);
    },
    rules: () => ruleSet,
    onRulesChange: (listener) => void listeners.push(listener),
    refresh,
    async close() {
      clearInterval(poll);
      clearInterval(flusher);
      try {
        await flushLastUsed();
      } catch (err) {
        options.onError?.(err);
      }
      store.close();
    },
  };
}
