import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:net';
import OpenAI from 'openai';
import type { Gateway } from '../../src/server/index.js';
import { client, eventually } from '../helpers/harness.js';
import { adminCall, createKey, keysWorld, type KeysWorld } from './helpers.js';

const chat = (gw: Gateway, key: string, model = 'llama', extra: Record<string, unknown> = {}) =>
  client(gw, { apiKey: key }).chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 8, ...extra } as never);

async function refusal(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof OpenAI.APIError, String(err));
    return err;
  }
  assert.fail('expected the request to be refused');
}

describe('gateway-managed API keys through the OpenAI SDK', () => {
  let w: KeysWorld;
  let gw: Gateway;
  let peer: Gateway;

  before(async () => {
    w = await keysWorld();
    gw = await w.start();
    // A second gateway on the same key store stands for another worker or replica: it only hears of changes
    // through the store.
    peer = await w.start();
  });
  after(() => w.close());

  test('a created key works at once from the SDK, streamed and not, on every gateway sharing the store', async () => {
    const created = await createKey(gw, w.admin, { subject: 'app-1', team: 'research', scopes: 'models:llama', label: 'ci' });
    assert.match(created.key, /^sk-ig-[a-z2-9]{10}-[A-Za-z0-9_-]{43}$/);
    assert.equal(created.key.slice(6, 16), created.id);
    const res = await chat(gw, created.key);
    assert.equal(res.object, 'chat.completion');
    const stream = await client(gw, { apiKey: created.key }).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0);
    const ctx = w.ended.at(-1)!;
    assert.equal(ctx.principal.keyId, created.id);
    assert.equal(ctx.principal.subject, 'app-1');
    assert.equal(ctx.principal.team, 'research');
    // The other process sees the new key within its poll interval.
    await eventually(() => chat(peer, created.key), 1000);
    // The secret is shown once: never in list or show.
    const shown = await adminCall(gw, w.admin, 'GET', `/admin/keys/${created.id}`);
    assert.equal(shown.status, 200);
    assert.equal(shown.body.key, undefined);
    assert.ok(!JSON.stringify((await adminCall(gw, w.admin, 'GET', '/admin/keys')).body).includes(created.key.slice(17)));
  });

  test('scopes use the JWT grammar: another model is 403, /admin needs the admin scope', async () => {
    const k = await createKey(gw, w.admin, { subject: 'app-2', scopes: ['models:llama:chat'] });
    const err = await refusal(chat(gw, k.key, 'other'));
    assert.equal(err.status, 403);
    const models = await client(gw, { apiKey: k.key }).models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['llama']);
    assert.equal((await adminCall(gw, k.key, 'GET', '/admin/keys')).status, 403);
    const adminKey = await createKey(gw, w.admin, { subject: 'ops', scopes: 'admin models:*' });
    assert.equal((await adminCall(gw, adminKey.key, 'GET', '/admin/keys')).status, 200);
  });

  test('an unknown or malformed key is a 401 in the OpenAI envelope', async () => {
    const k = await createKey(gw, w.admin, { subject: 'app-3', scopes: 'models:*' });
    const forged = `${k.key.slice(0, 17)}${'A'.repeat(43)}`;
    const err = await refusal(chat(gw, forged));
    assert.equal(err.status, 401);
    assert.match(err.message, /not valid/);
    assert.equal((await refusal(chat(gw, 'sk-ig-nothing'))).status, 401);
  });

  test('a key is taken under the Bearer scheme only, in any case; a bare "*" scope in a JWT grants nothing', async () => {
    const k = await createKey(gw, w.admin, { subject: 'app-3b', scopes: 'models:*' });
    const call = (authorization: string) =>
      fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal((await call(`bearer ${k.key}`)).status, 200);
    for (const scheme of ['Basic  ', 'Xxxxxx ', 'Token  ']) assert.equal((await call(`${scheme}${k.key}`)).status, 401, scheme);
    const star = await w.idp.issueToken({ sub: 'star', scope: '*' });
    assert.equal((await adminCall(gw, star, 'GET', '/admin/keys')).status, 403);
    assert.equal((await call(`Bearer ${star}`)).status, 403);
  });

  test('a revoked key is refused with a 401 that says so, here at once and in the other process within a second', async () => {
    const k = await createKey(gw, w.admin, { subject: 'app-4', scopes: 'models:*' });
    await chat(gw, k.key);
    await eventually(() => chat(peer, k.key), 1000);
    const revoked = await adminCall(gw, w.admin, 'DELETE', `/admin/keys/${k.id}`);
    assert.equal(revoked.body.status, 'revoked');
    const here = await refusal(chat(gw, k.key));
    assert.equal(here.status, 401);
    assert.match(here.message, /revoked/);
    // Within a second (the store is polled every 250 ms): eventually() gives up after 1000 ms.
    const there = await eventually(async () => {
      try {
        await chat(peer, k.key);
        return null;
      } catch (err) {
        return err as InstanceType<typeof OpenAI.APIError>;
      }
    }, 1000, 10);
    assert.ok(there);
    assert.equal(there.status, 401);
    assert.match(there.message, /revoked/);
  });

  test('an expired key is refused as expired', async () => {
    const k = await createKey(gw, w.admin, { subject: 'app-5', scopes: 'models:*', ttl: '300ms' });
    await chat(gw, k.key);
    const err = await eventually(async () => {
      try {
        await chat(gw, k.key);
        return null;
      } catch (e) {
        return e as InstanceType<typeof OpenAI.APIError>;
      }
    }, 3000);
    assert.ok(err);
    assert.equal(err.status, 401);
    assert.match(err.message, /expired/);
  });

  test('per-key rpm holds that key only, and is enforced by every process at once after an edit', async () => {
    const k = await createKey(gw, w.admin, { subject: 'shared-owner', scopes: 'models:*', limits: { rpm: 2 } });
    const other = await createKey(gw, w.admin, { subject: 'shared-owner', scopes: 'models:*' });
    await chat(gw, k.key);
    const first = await client(gw, { apiKey: k.key }).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'x' }] }).withResponse();
    assert.equal(first.response.headers.get('x-ratelimit-limit-requests'), '2');
    const err = await refusal(chat(gw, k.key));
    assert.equal(err.status, 429);
    assert.equal(err.code, 'rate_limit_exceeded');
    assert.match(err.message, /key "/);
    // The same owner through another key is not held by this key's limit.
    await chat(gw, other.key);
    // An edit raises the limit; the new rule applies without a restart.
    const patched = await adminCall(gw, w.admin, 'PATCH', `/admin/keys/${other.id}`, { limits: { rpm: 1 } });
    assert.deepEqual(patched.body.limits, { rpm: 1 });
    await chat(gw, other.key);
    assert.equal((await refusal(chat(gw, other.key))).status, 429);
    // The other process enforces the new rule too (its own buckets: limits are per process until shared state).
    await eventually(async () => (await refusal(chat(peer, other.key)).catch(() => null))?.status === 429, 1000);
  });

  test('per-key concurrency and daily token quota are exact', async () => {
    const k = await createKey(gw, w.admin, { subject: 'quota-app', scopes: 'models:*', limits: { concurrency: 1, tokens_per_day: 400 } });
    // Concurrency 1: of two requests started together, one is refused while the other runs.
    const results = await Promise.allSettled([chat(gw, k.key, 'llama', { max_tokens: 50 }), chat(gw, k.key, 'llama', { max_tokens: 50 })]);
    const refused = results.filter((r) => r.status === 'rejected');
    assert.equal(refused.length, 1);
    assert.equal(((refused[0] as PromiseRejectedResult).reason as InstanceType<typeof OpenAI.APIError>).status, 429);
    // Spend the quota: requests pass until what is used plus what the next one reserves passes 400 tokens.
    let used = 0;
    let quotaErr: InstanceType<typeof OpenAI.APIError> | null = null;
    for (let i = 0; i < 40 && !quotaErr; i++) {
      try {
        const r = await chat(gw, k.key, 'llama', { max_tokens: 40 });
        used += r.usage!.total_tokens;
      } catch (err) {
        quotaErr = err as InstanceType<typeof OpenAI.APIError>;
      }
    }
    assert.ok(quotaErr, 'the quota must run out');
    assert.equal(quotaErr.status, 429);
    assert.equal(quotaErr.code, 'insufficient_quota');
    const snap = await adminCall(gw, w.admin, 'GET', `/admin/limits?key=${k.id}`);
    const day = snap.body.quotas.find((q: { period: string }) => q.period === 'day');
    assert.equal(day.limit, 400);
    assert.ok(day.used <= 400, `used ${day.used} must never pass the quota`);
    assert.ok(used > 0);
  });

  test('rotation gives a new secret for the same identity; the old one works only during the overlap', async () => {
    const k = await createKey(gw, w.admin, { subject: 'rotating', scopes: 'models:*' });
    await chat(gw, k.key);
    const rotated = await adminCall(gw, w.admin, 'POST', `/admin/keys/${k.id}/rotate`, { overlap: '600ms' });
    assert.equal(rotated.status, 200);
    const fresh: string = rotated.body.key;
    assert.notEqual(fresh, k.key);
    assert.equal(rotated.body.id, k.id);
    assert.ok(rotated.body.rotation_overlap_until);
    await chat(gw, fresh);
    await chat(gw, k.key); // still inside the overlap
    assert.equal(w.ended.at(-1)!.principal.keyId, k.id);
    const err = await eventually(async () => {
      try {
        await chat(gw, k.key);
        return null;
      } catch (e) {
        return e as InstanceType<typeof OpenAI.APIError>;
      }
    }, 3000);
    assert.ok(err);
    assert.equal(err.status, 401);
    assert.match(err.message, /rotated/);
    await chat(gw, fresh);
    // Without an overlap the old secret stops at once.
    const again = await adminCall(gw, w.admin, 'POST', `/admin/keys/${k.id}/rotate`, {});
    assert.equal((await refusal(chat(gw, fresh))).status, 401);
    await chat(gw, again.body.key);
  });

  test('the admin API validates what it is given', async () => {
    const bad = await adminCall(gw, w.admin, 'POST', '/admin/keys', { subject: 'x', scopes: 'modles:*' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.type, 'invalid_request_error');
    assert.match(bad.body.error.message, /scope/);
    assert.match(bad.body.error.message, /:embeddings\|:responses\|:messages/, 'the grammar names every operation');
    // A near miss of an operation is a typo (it would be read as part of a model name and grant nothing)...
    const typo = await adminCall(gw, w.admin, 'POST', '/admin/keys', { subject: 'x', scopes: ['models:*:embedding'] });
    assert.equal(typo.status, 400);
    assert.match(typo.body.error.message, /models:\*:embeddings/);
    // ...while a model tag after a colon is a model name (Ollama's llama3:latest).
    assert.equal((await adminCall(gw, w.admin, 'POST', '/admin/keys', { subject: 'x', scopes: 'models:*:latest models:llama3:8b:chat' })).status, 201);
    // Tags that begin with an operation's name are model names too (llama2:chat-q4_0, bge:reranker-v2).
    assert.equal((await adminCall(gw, w.admin, 'POST', '/admin/keys', { subject: 'x', scopes: ['models:llama2:chat-q4_0', 'models:bge:reranker-v2'] })).status, 201);
    assert.equal((await adminCall(gw, w.admin, 'POST', '/admin/keys', { scopes: 'admin' })).status, 400);
    assert.equal((await adminCall(gw, w.admin, 'GET', '/admin/keys/nosuchkey0')).status, 404);
    assert.equal((await adminCall(gw, w.admin, 'GET', '/admin/keys/../../etc')).status, 404);
    const notJson = await fetch(`${gw.url}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${w.admin}` }, body: '{"subject":' });
    assert.equal(notJson.status, 400);
    assert.equal(((await notJson.json()) as { error: { code: string } }).error.code, 'invalid_json');
  });

  test('an admin request body is bounded: a huge one is refused with 413 as it arrives, not buffered', async () => {
    const huge = await fetch(`${gw.url}/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${w.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ subject: 'x', scopes: 'models:*', label: 'y'.repeat(2 * 1024 * 1024) }),
    });
    assert.equal(huge.status, 413);
    assert.equal(((await huge.json()) as { error: { code: string } }).error.code, 'request_too_large');
    // Declared far over the limit and never sent: the answer does not wait for the bytes.
    const sock = connect(gw.port, '127.0.0.1');
    sock.setEncoding('latin1');
    let got = '';
    sock.on('data', (d: string) => (got += d));
    sock.on('error', () => {});
    sock.write(`POST /admin/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${w.admin}\r\nContent-Type: application/json\r\nContent-Length: 314572800\r\n\r\n{"subject":`);
    await eventually(() => got.includes('\r\n\r\n'));
    assert.match(got, /^HTTP\/1\.1 413 /);
    sock.destroy();
  });
});
