import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { hashKey } from '../../src/auth/keys/index.js';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { client, eventually, startSims, startTestGateway } from '../helpers/harness.js';
import { startIdp, type TestIdp } from '../helpers/idp.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { adminCall, createKey } from './helpers.js';

/**
 * Two replicas with separate data directories (no common disk) on one real redis-server: keys live in Redis, and
 * every replica's in-memory registry hears of each change within a second.
 */
const PEPPER = 'replica-shared-pepper-0123456789abcdef';
const PREFIX = 'keystest:';
const BIN = fileURLToPath(new URL('../../bin/infergate.mjs', import.meta.url));
const run = promisify(execFile);

const chat = (gw: Gateway, key: string) => client(gw, { apiKey: key }).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 });

async function refusal(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof OpenAI.APIError, String(err));
    return err;
  }
  assert.fail('expected the request to be refused');
}

/** Refused (with the error) or served (null), without throwing. */
const outcome = (p: Promise<unknown>) => p.then(() => null, (err: unknown) => err as InstanceType<typeof OpenAI.APIError>);

describe('API keys on Redis, shared by replicas without a common disk', () => {
  let redis: TestRedis;
  let sims: SimServer[];
  let idp: TestIdp;
  let admin: string;
  const dirs: string[] = [];
  let a: Gateway;
  let b: Gateway;
  const secrets: string[] = [];

  const start = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'infergate-redis-keys-'));
    dirs.push(dir);
    return startTestGateway([{ name: 'llama', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] }], {
      sections: {
        auth: { issuers: [{ issuer: idp.issuer, audience: 'infergate', jwks_url: idp.jwksUrl, algorithms: ['RS256'] }] },
        keys: { sqlite: join(dir, 'keys.db'), pepper: PEPPER },
        usage: { sqlite: join(dir, 'usage.db'), flush_interval: '20ms' },
        state: { redis: redis.url, prefix: PREFIX },
      },
    });
  };

  before(async () => {
    redis = await startRedis();
    sims = await startSims(1);
    idp = await startIdp();
    admin = await idp.issueToken({ sub: 'root', scope: 'models:* admin' });
    a = await start();
    b = await start();
  });
  after(async () => {
    await Promise.all([a, b].map((g) => g?.close(100)));
    await Promise.all(sims.map((s) => s.close()));
    await idp?.close();
    await redis?.close();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  test('a key created on one replica works on the other at once', async () => {
    const k = await createKey(a, admin, { subject: 'app-r', team: 'ml', scopes: 'models:llama' });
    secrets.push(k.key);
    // No wait: B has never heard of this id, so it reads Redis once before answering.
    const res = await chat(b, k.key);
    assert.equal(res.object, 'chat.completion');
    const listed = await adminCall(b, admin, 'GET', `/admin/keys/${k.id}`);
    assert.equal(listed.body.subject, 'app-r');
    // An edit (the console's PATCH) through B reaches A within a second.
    const patched = await adminCall(b, admin, 'PATCH', `/admin/keys/${k.id}`, { label: 'edited', limits: { rpm: 7 } });
    assert.equal(patched.status, 200);
    await eventually(async () => {
      const seen = (await adminCall(a, admin, 'GET', `/admin/keys/${k.id}`)).body;
      return seen.label === 'edited' && seen.limits.rpm === 7;
    }, 1000, 10);
  });

  test('revoked on one replica, refused on the other within a second with a 401 that says so', async () => {
    const k = await createKey(a, admin, { subject: 'app-revoke', scopes: 'models:*' });
    secrets.push(k.key);
    await chat(a, k.key);
    await chat(b, k.key);
    const revoked = await adminCall(b, admin, 'DELETE', `/admin/keys/${k.id}`); // what the console sends
    assert.equal(revoked.body.status, 'revoked');
    assert.match((await refusal(chat(b, k.key))).message, /revoked/);
    // Within a second (each replica asks Redis for changes every 250 ms): eventually() gives up after 1000 ms.
    const there = await eventually(async () => outcome(chat(a, k.key)), 1000, 10);
    assert.equal(there!.status, 401);
    assert.match(there!.message, /The API key .* was revoked/);
  });

  test('rotation: the new secret works on the other replica at once, the old one until the overlap ends', async () => {
    const k = await createKey(a, admin, { subject: 'app-rotate', scopes: 'models:*' });
    secrets.push(k.key);
    await chat(b, k.key);
    const rotated = await adminCall(a, admin, 'POST', `/admin/keys/${k.id}/rotate`, { overlap: '800ms' });
    assert.equal(rotated.status, 200);
    const fresh: string = rotated.body.key;
    secrets.push(fresh);
    assert.equal((await chat(b, fresh)).object, 'chat.completion', 'a secret B does not know yet makes it read Redis');
    await chat(b, k.key); // the old one, inside the overlap
    const gone = await eventually(async () => outcome(chat(b, k.key)), 3000, 50);
    assert.equal(gone!.status, 401);
    assert.match(gone!.message, /rotated/);
    await chat(b, fresh);
  });

  test('Redis holds only HMAC hashes of the keys, never a secret', async () => {
    const r = new Redis(redis.url);
    try {
      const keys = await r.keys(`${PREFIX}apikeys:*`);
      assert.ok(keys.length > 0);
      let everything = '';
      for (const key of keys) {
        const type = await r.type(key);
        if (type === 'hash') everything += JSON.stringify(await r.hgetall(key));
        else if (type === 'zset') everything += JSON.stringify(await r.zrange(key, 0, -1));
        else everything += String(await r.get(key));
      }
      const records = await r.hgetall(`${PREFIX}apikeys:rec`);
      const pepper = new TextEncoder().encode(PEPPER);
      for (const s of secrets) {
        assert.ok(!everything.includes(s.slice(17)), 'no secret (nor its random part) anywhere in Redis');
        const row = JSON.parse(records[s.slice(6, 16)]!) as { hash: string; prev_hash: string | null };
        const h = hashKey(pepper, s);
        assert.ok(row.hash === h || row.prev_hash === h || (row.prev_hash === null && row.hash !== h), 'stored as HMAC-SHA256 under the pepper');
      }
      const first = JSON.parse(records[secrets[0]!.slice(6, 16)]!) as { hash: string };
      assert.equal(first.hash, hashKey(pepper, secrets[0]!));
    } finally {
      r.disconnect();
    }
  });

  test('the CLI acts on the same Redis (from the config, or --redis): a key it creates works at once, its revocation within a second', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'infergate-redis-keys-cli-'));
    dirs.push(dir);
    const file = join(dir, 'cli.yaml');
    // No state section: the Redis comes from --redis.
    await writeFile(file, JSON.stringify({ auth: 'none', sim: {}, keys: { sqlite: join(dir, 'keys.db'), pepper: PEPPER }, state: { prefix: PREFIX } }));
    const cli = (...args: string[]) => run(process.execPath, [BIN, 'keys', ...args, '--config', file, '--redis', redis.url], { cwd: dir });
    const key = (await cli('create', '--sub', 'cli-r', '--scope', 'models:llama')).stdout.trim();
    assert.equal((await chat(a, key)).object, 'chat.completion');
    const listed = JSON.parse((await cli('list', '--json')).stdout) as { id: string }[];
    assert.ok(listed.some((k) => k.id === key.slice(6, 16)));
    await cli('revoke', key.slice(6, 16));
    const refused = await eventually(async () => outcome(chat(b, key)), 1000, 10);
    assert.match(refused!.message, /revoked/);
  });

  test('Redis restarted without its data: the replicas put their keys back, revocations included', async () => {
    const live = await createKey(a, admin, { subject: 'app-survivor', scopes: 'models:*' });
    const dead = await createKey(a, admin, { subject: 'app-dead', scopes: 'models:*' });
    await adminCall(a, admin, 'POST', `/admin/keys/${dead.id}/revoke`);
    await redis.restart();
    const r = new Redis(redis.url);
    try {
      await eventually(async () => (await r.hexists(`${PREFIX}apikeys:rec`, dead.id)) === 1, 5000, 50);
    } finally {
      r.disconnect();
    }
    await eventually(() => chat(b, live.key), 5000, 50);
    assert.match((await refusal(chat(b, dead.key))).message, /revoked/);
    // A replica started now (nothing in memory) reads them from Redis.
    const c = await start();
    try {
      await chat(c, live.key);
      assert.match((await refusal(chat(c, dead.key))).message, /revoked/);
    } finally {
      await c.close(100);
    }
  });

  test('Redis unreachable: keys are refused (503) once Redis has not been read for keys.max_stale, JWTs keep working; back when it is', async () => {
    const k = await createKey(a, admin, { subject: 'app-outage', scopes: 'models:*' });
    await chat(a, k.key);
    await redis.stop();
    try {
      const refused = await eventually(async () => outcome(chat(a, k.key)), 5000, 50);
      assert.equal(refused!.status, 503);
      assert.match(refused!.message, /key store is unreachable/);
      const jwt = await idp.issueToken({ sub: 'jwt-user', scope: 'models:*' });
      assert.equal((await chat(a, jwt)).object, 'chat.completion');
      // No change can be made meanwhile, and none is made half-way.
      const revoke = await adminCall(a, admin, 'POST', `/admin/keys/${k.id}/revoke`);
      assert.equal(revoke.status, 503);
      assert.equal(revoke.body.error.code, 'api_keys_unavailable');
    } finally {
      await redis.start();
    }
    await eventually(() => chat(a, k.key), 10_000, 50);
    assert.equal((await adminCall(a, admin, 'GET', `/admin/keys/${k.id}`)).body.status, 'active');
  });
});
