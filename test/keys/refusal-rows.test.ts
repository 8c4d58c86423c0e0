import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Gateway } from '../../src/server/index.js';
import { eventually } from '../helpers/harness.js';
import { adminCall, createKey, keysWorld, type KeysWorld } from './helpers.js';

/**
 * A refused request's usage row says what the gateway knew when it refused: the key behind a revoked or expired
 * secret (so an admin can see who keeps using it), and the model the body named once the body was read.
 */
describe('usage rows of refused requests carry the key and the model', () => {
  let w: KeysWorld;
  let gw: Gateway;

  before(async () => {
    w = await keysWorld('infergate-refusal-rows-');
    gw = await w.start();
  });
  after(() => w.close());

  const chat = (key: string, model: string, requestId: string, body: Record<string, unknown> = { messages: [{ role: 'user', content: 'hi' }] }) =>
    fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-request-id': requestId },
      body: JSON.stringify({ model, ...body }),
    });

  /** The usage row of a request, by its id, read through the admin export. */
  async function rowOf(requestId: string): Promise<Record<string, unknown>> {
    const row = await eventually(async () => {
      const res = await fetch(`${gw.url}/admin/usage/export?from=1h&format=jsonl`, { headers: { authorization: `Bearer ${w.admin}` } });
      const rows = (await res.text()).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      return rows.find((r) => r.request_id === requestId);
    });
    assert.ok(row, `no usage row for ${requestId}`);
    return row;
  }

  test('a revoked key\'s refusals are recorded under its key id, subject and team, not anonymous', async () => {
    const k = await createKey(gw, w.admin, { subject: 'dave', team: 'qa', scopes: 'models:*' });
    assert.equal((await chat(k.key, 'llama', 'rr-before-revoke')).status, 200);
    assert.equal((await adminCall(gw, w.admin, 'POST', `/admin/keys/${k.id}/revoke`)).status, 200);
    const res = await eventually(async () => {
      const r = await chat(k.key, 'llama', 'rr-revoked');
      return r.status === 401 ? r : undefined;
    });
    assert.match(((await res!.json()) as { error: { message: string } }).error.message, /revoked/);
    const row = await rowOf('rr-revoked');
    assert.deepEqual([row.status, row.subject, row.team, row.key], [401, 'dave', 'qa', k.id]);
  });

  test('an expired key\'s refusals carry the key too; a made-up secret for a real key id stays anonymous', async () => {
    const k = await createKey(gw, w.admin, { subject: 'erin', team: 'qa', scopes: 'models:*', expires_at: Date.now() + 300 });
    await new Promise((r) => setTimeout(r, 400));
    assert.equal((await chat(k.key, 'llama', 'rr-expired')).status, 401);
    const row = await rowOf('rr-expired');
    assert.deepEqual([row.status, row.subject, row.team, row.key], [401, 'erin', 'qa', k.id]);
    // Only the id part of a key is public: a wrong secret proves nothing about who sent it.
    const forged = `${k.key.slice(0, k.key.lastIndexOf('-') + 1)}${'A'.repeat(43)}`;
    assert.equal((await chat(forged, 'llama', 'rr-forged')).status, 401);
    const forgedRow = await rowOf('rr-forged');
    assert.deepEqual([forgedRow.subject, forgedRow.key], ['anonymous', null]);
  });

  test('a 403 for a model outside the key\'s scope carries the requested model', async () => {
    const k = await createKey(gw, w.admin, { subject: 'fred', scopes: 'models:other' });
    assert.equal((await chat(k.key, 'llama', 'rr-scope-model')).status, 403);
    const row = await rowOf('rr-scope-model');
    assert.deepEqual([row.status, row.subject, row.key, row.requested_model], [403, 'fred', k.id, 'llama']);
  });

  // Refused before its body is read (a key without the endpoint costs no upload): the row names the endpoint, no model.
  test('a 403 for an operation outside the key\'s scope is recorded under the key, before any upload is read', async () => {
    const k = await createKey(gw, w.admin, { subject: 'gina', scopes: 'models:llama:embeddings' });
    const res = await chat(k.key, 'llama', 'rr-scope-op');
    assert.equal(res.status, 403);
    const row = await rowOf('rr-scope-op');
    assert.deepEqual([row.status, row.subject, row.key, row.requested_model, row.endpoint], [403, 'gina', k.id, null, 'chat']);
  });

  test('429 over a key\'s limit, 404 for an unknown model and 400 for a bad body carry the requested model', async () => {
    const k = await createKey(gw, w.admin, { subject: 'hank', scopes: 'models:*', limits: { rpm: 1 } });
    assert.equal((await chat(k.key, 'llama', 'rr-limit-ok')).status, 200);
    assert.equal((await chat(k.key, 'llama', 'rr-limited')).status, 429);
    const j = await createKey(gw, w.admin, { subject: 'ivy', scopes: 'models:*' });
    assert.equal((await chat(j.key, 'no-such-model', 'rr-unknown')).status, 404);
    assert.equal((await chat(j.key, 'llama', 'rr-bad-body', { messages: 'not a list' })).status, 400);
    const rows = await Promise.all(['rr-limited', 'rr-unknown', 'rr-bad-body'].map(rowOf));
    assert.deepEqual(rows.map((r) => [r.status, r.subject, r.requested_model]), [[429, 'hank', 'llama'], [404, 'ivy', 'no-such-model'], [400, 'ivy', 'llama']]);
  });
});
