import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { eventually } from '../helpers/harness.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startGatewayProc, tempConfig, type GatewayProc } from '../scale/proc.js';

/**
 * Keys on Redis across real processes: a gateway with two workers (one port, the kernel spreads connections) and a
 * single-process replica with its own data directory. A key created through one is served by every worker of the
 * other at once, and a revocation reaches every worker within a second.
 */
const SECRET = 'hs256-secret-for-the-redis-workers-test-0123456789';
const PEPPER = 'redis-workers-pepper-0123456789abcdefghij';

async function call(url: string, token: string, path = '/v1/chat/completions', init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: any }> {
  const method = init.method ?? 'POST';
  const body = init.body ?? (path === '/v1/chat/completions' ? { model: 'sim-llama-8b', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 } : undefined);
  const res = await fetch(`${url}${path}`, {
    method,
    // A fresh connection each time, so that the supervisor's workers all get some.
    headers: { authorization: `Bearer ${token}`, connection: 'close', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

describe('API keys on Redis across worker processes and replicas', () => {
  let redis: TestRedis;
  const procs: GatewayProc[] = [];
  let workers: GatewayProc;
  let replica: GatewayProc;
  let admin: string;

  before(async () => {
    redis = await startRedis();
    admin = await new SignJWT({ scope: 'models:* admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('root')
      .setIssuer('test')
      .setAudience('infergate')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(SECRET));
    const start = async (workerCount: number) => {
      const { dir, file } = await tempConfig((d) => ({
        server: { listen: '127.0.0.1:0', drain: '1s', ...(workerCount > 1 ? { workers: workerCount } : {}) },
        auth: { issuers: [{ issuer: 'test', audience: 'infergate', secret: SECRET, algorithms: ['HS256'] }] },
        sim: { replicas: 1, engine: 'fast' },
        keys: { sqlite: join(d, 'keys.db'), pepper: PEPPER },
        state: { redis: redis.url, prefix: 'kw:' },
        usage: false,
        telemetry: { log_level: 'error', metrics: false },
      }));
      const p = await startGatewayProc(dir, file);
      procs.push(p);
      return p;
    };
    [workers, replica] = await Promise.all([start(2), start(1)]);
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.cleanup()));
    await redis?.close();
  });

  test('created through the replica, served by every worker at once; revoked there, refused by every worker within a second', async () => {
    assert.equal(workers.workers().length, 2);
    const created = await call(replica.url, admin, '/admin/keys', { body: { subject: 'proc-app', scopes: 'models:*' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const key: string = created.body.key;
    // Enough fresh connections that both workers answer some (the kernel spreads them).
    const first = await Promise.all(Array.from({ length: 12 }, () => call(workers.url, key)));
    assert.deepEqual(first.map((r) => r.status), Array(12).fill(200));

    const revoked = await call(replica.url, admin, `/admin/keys/${created.body.id}`, { method: 'DELETE' });
    assert.equal(revoked.body.status, 'revoked');
    await eventually(async () => {
      const rs = await Promise.all(Array.from({ length: 12 }, () => call(workers.url, key)));
      return rs.every((r) => r.status === 401 && /was revoked/.test(r.body.error.message));
    }, 1000, 10);
  });
});
