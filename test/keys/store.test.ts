import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { createKeyRegistry, createSqliteKeyStore, hashKey, type KeyRegistry } from '../../src/auth/keys/index.js';
import { createManualClock } from '../../src/core/index.js';
import type { AuthPrincipal } from '../../src/auth/index.js';

/** A key known to the registry is answered synchronously, from memory (a promise only for an id not seen yet). */
function now(p: AuthPrincipal | Promise<AuthPrincipal>): AuthPrincipal {
  assert.ok(!(p instanceof Promise), 'answered from memory, synchronously');
  return p;
}

describe('the key store', () => {
  let dir: string;
  const pepper = randomBytes(32);
  const open = (extra: Partial<Parameters<typeof createKeyRegistry>[0]> = {}): Promise<KeyRegistry> =>
    createKeyRegistry({ store: createSqliteKeyStore(join(dir, 'keys.db')), pepper, pollIntervalMs: 1000, lastUsedFlushMs: 60_000, ...extra });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'infergate-keystore-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('stores only a peppered hash: no secret in any column, nor anywhere in the database files', async () => {
    const reg = await open();
    const secrets: string[] = [];
    for (const i of [0, 1, 2]) secrets.push((await reg.create({ subject: `s${i}`, scopes: ['models:*'], label: `k${i}` })).secret);
    const rotated = (await reg.rotate(reg.list().find((k) => k.subject === 's0')!.id, 60_000)).secret;
    secrets.push(rotated);
    const db = new Database(join(dir, 'keys.db'), { readonly: true });
    const rows = db.prepare('SELECT * FROM api_keys').all() as Record<string, unknown>[];
    db.close();
    assert.equal(rows.length, 3);
    const cells = rows.flatMap((r) => Object.values(r)).map(String).join('\n');
    for (const s of secrets) {
      assert.ok(!cells.includes(s.slice(17)), 'a secret must never be stored');
      const row = rows.find((r) => r.id === s.slice(6, 16))!;
      // The stored value is HMAC-SHA256 under the pepper; the same key under another pepper does not match it.
      assert.ok(row.hash === hashKey(pepper, s) || row.prev_hash === hashKey(pepper, s));
      assert.notEqual(row.hash, hashKey(randomBytes(32), s));
    }
    await reg.close();
    for (const f of await readdir(dir)) {
      const bytes = await readFile(join(dir, f));
      for (const s of secrets) assert.ok(!bytes.includes(Buffer.from(s.slice(17))), `${f} must not hold a secret`);
    }
  });

  test('answers a key seen before from memory, and writes last-used times in batches off the request path', async () => {
    const clock = createManualClock(1_000, Date.UTC(2026, 0, 1));
    const reg = await open({ clock });
    const { key, secret } = await reg.create({ subject: 'batch', scopes: ['models:*'] });
    const header = `Bearer ${secret}`;
    assert.equal(now(reg.authenticate(header)).keyId, key.id);
    const verified = reg.stats.verified;
    for (let i = 0; i < 100; i++) assert.equal(now(reg.authenticate(header)).subject, 'batch');
    const usedAt = clock.wallMs();
    assert.equal(reg.stats.verified, verified, 'no second verification for a cached key');
    assert.ok(reg.stats.cacheHits >= 100);
    const db = new Database(join(dir, 'keys.db'), { readonly: true });
    const lastUsed = () => (db.prepare('SELECT last_used_ms FROM api_keys WHERE id = ?').get(key.id) as { last_used_ms: number | null }).last_used_ms;
    assert.equal(lastUsed(), null, 'not written per request');
    // Written later than used: the time written is the use's, not the write's (a key revoked in between must not
    // look used after its revocation).
    clock.advance(4_000);
    await reg.close(); // flushes
    assert.equal(lastUsed(), usedAt);
    db.close();
  });

  test('a key created or rotated by another process is accepted at once: the store is read once, not per request', async () => {
    const a = await open();
    const b = await open(); // polls only every second: what follows happens before its next poll
    const { key, secret } = await a.create({ subject: 'fresh', scopes: ['models:*'] });
    const first = b.authenticate(`Bearer ${secret}`);
    assert.ok(first instanceof Promise, 'an id b has not heard of makes it read the store');
    assert.equal((await first).keyId, key.id);
    const rotated = (await a.rotate(key.id, 0)).secret;
    assert.equal((await b.authenticate(`Bearer ${rotated}`)).keyId, key.id, 'a secret b does not know: read once more');
    await assert.rejects(async () => b.authenticate(`Bearer ${secret}`), /rotated/);
    // Made-up secrets for a known id share one read at a time and are refused.
    const forged = `sk-ig-${key.id}-${'A'.repeat(43)}`;
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => b.authenticate(`Bearer ${forged}`)));
    assert.ok(results.every((r) => r.status === 'rejected' && /not valid/.test(String(r.reason))));
    await a.close();
    await b.close();
  });

  test("hears another process's revocation through the store's change sequence", async () => {
    const a = await open();
    const b = await open();
    const { key, secret } = await a.create({ subject: 'two-procs', scopes: ['models:*'], limits: { rpm: 5 } });
    let ruleChanges = 0;
    b.onRulesChange(() => ruleChanges++);
    await b.refresh();
    assert.equal(now(b.authenticate(`Bearer ${secret}`)).keyId, key.id);
    assert.ok(b.rules().limits.some((r) => r.match.key === key.id && r.rpm === 5));
    await a.revoke(key.id);
    await b.refresh();
    assert.throws(() => b.authenticate(`Bearer ${secret}`), /revoked/);
    assert.ok(!b.rules().limits.some((r) => r.match.key === key.id), 'a revoked key has no rules');
    assert.equal(ruleChanges, 2);
    await a.close();
    await b.close();
  });
});
