import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { client, eventually, startSims, startTestGateway } from '../helpers/harness.js';
import { startIdp, type TestIdp } from '../helpers/idp.js';

describe('admin usage routes: reports from rollups, streamed exports, the audit log', () => {
  let sims: SimServer[];
  let idp: TestIdp;
  let gw: Gateway;
  let dir: string;
  let admin: string;
  let user: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'infergate-admin-usage-'));
    sims = await startSims(1);
    idp = await startIdp();
    gw = await startTestGateway([{ name: 'llama', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] }], {
      sections: {
        auth: { issuers: [{ issuer: idp.issuer, audience: 'infergate', jwks_url: idp.jwksUrl, algorithms: ['RS256'] }] },
        usage: { sqlite: join(dir, 'usage.db'), flush_interval: '20ms' },
      },
    });
    admin = await idp.issueToken({ sub: 'root', team: 'ops', scope: 'models:* admin' });
    user = await idp.issueToken({ sub: 'carol', team: 'research', scope: 'models:*' });
    const ai = client(gw, { apiKey: user });
    for (let i = 0; i < 30; i++) await ai.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: `hello ${i}` }] });
  });
  after(async () => {
    await gw.close(100);
    await Promise.all(sims.map((s) => s.close()));
    await idp.close();
    await rm(dir, { recursive: true, force: true });
  });

  const get = (path: string, token?: string, headers: Record<string, string> = {}) =>
    fetch(`${gw.url}${path}`, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });

  test('refuses query values that are not what they name with a 400 naming the parameter, never a 500', async () => {
    const cases: Array<[string, string]> = [
      ['/admin/usage?group_by=__proto__', 'group_by'],
      ['/admin/usage?group_by=constructor', 'group_by'],
      ['/admin/usage?group_by=toString', 'group_by'],
      ['/admin/usage?from=99999999999999999999', 'from'],
      ['/admin/usage?to=99999999999999999999', 'to'],
      ['/admin/usage?from=99999999999h', 'from'],
      ['/admin/usage/export?from=99999999999999999999', 'from'],
      ['/admin/audit?from=99999999999999999999', 'from'],
    ];
    for (const [path, param] of cases) {
      const res = await get(path, admin);
      const body = (await res.json()) as { error: { param: string | null } };
      assert.equal(res.status, 400, `${path}: ${JSON.stringify(body)}`);
      assert.equal(body.error.param, param, path);
    }
  });

  test('reads digits alone as epoch milliseconds, whatever their length (0 is 1970, not the year 2000)', async () => {
    const report = (await (await get('/admin/usage?from=0', admin)).json()) as { from: string; data: Array<{ requests: number }> };
    assert.equal(report.from, '1970-01-01T00:00:00.000Z');
    assert.ok(report.data.some((r) => r.requests >= 30));
    const audit = (await (await get('/admin/audit?from=5&to=123456789', admin)).json()) as { from: string; to: string };
    assert.deepEqual([audit.from, audit.to], ['1970-01-01T00:00:00.005Z', new Date(123456789).toISOString()]);
    const exported = await get('/admin/usage/export?from=0&format=jsonl', admin);
    assert.equal(exported.status, 200);
    assert.ok((await exported.text()).includes('"subject":"carol"'));
  });

  test('refuses a range whose from is after its to with a 400 on every route that takes one', async () => {
    for (const path of ['/admin/usage?from=1h&to=2h', '/admin/usage/export?from=2000&to=1000', '/admin/audit?from=2026-01-02&to=2026-01-01', '/admin/usage?from=2h&to=0']) {
      const res = await get(path, admin);
      const body = (await res.json()) as { error: { type: string; code: string; param: string; message: string } };
      assert.equal(res.status, 400, `${path}: ${JSON.stringify(body)}`);
      assert.deepEqual([body.error.type, body.error.code, body.error.param], ['invalid_request_error', 'invalid_request', 'from'], path);
      assert.match(body.error.message, /from .* is after to/, path);
    }
    // Equal bounds are an empty range, not a mistake.
    assert.equal((await get('/admin/usage?from=1000&to=1000', admin)).status, 200);
  });

  test('reports a subject window with sketch percentiles and says how accurate they are', async () => {
    const res = await get('/admin/usage?from=1h&subject=carol&group_by=model', admin);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { percentiles: { method: string; relative_error: number }; data: Array<Record<string, number | string>> };
    assert.deepEqual(body.percentiles, { method: 'ddsketch', relative_error: 0.01 });
    assert.equal(body.data.length, 1);
    const row = body.data[0]!;
    assert.equal(row.model, 'llama');
    assert.equal(row.requests, 30);
    for (const k of ['p50_latency_ms', 'p90_latency_ms', 'p95_latency_ms', 'p99_latency_ms']) assert.equal(typeof row[k], 'number', k);
  });

  test('streams the raw rows of a range as JSON lines and as CSV', async () => {
    const jsonl = await get('/admin/usage/export?from=1h&format=jsonl', admin);
    assert.equal(jsonl.status, 200);
    assert.match(jsonl.headers.get('content-type') ?? '', /ndjson/);
    const lines = (await jsonl.text()).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const carol = lines.filter((l) => l.subject === 'carol');
    assert.equal(carol.length, 30);
    assert.equal(carol[0]!.requested_model, 'llama');
    assert.equal(typeof carol[0]!.latency_ms, 'number');
    assert.ok('key' in carol[0]!);

    const csv = await get('/admin/usage/export?from=1h&format=csv', admin);
    const rows = (await csv.text()).trim().split('\r\n');
    assert.match(rows[0]!, /^id,request_id,time_ms,time,subject,team,key,requested_model/);
    assert.equal(rows.filter((r) => r.includes(',carol,')).length, 30);

    const bad = await get('/admin/usage/export?format=xml', admin);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { param: string } }).error.param, 'format');
  });

  test('exports keep U+2028 and U+2029 escaped in JSON lines and inside quoted CSV fields', async () => {
    const odd = await idp.issueToken({ sub: 'line\u2028sep', team: 'para\u2029sep', scope: 'models:*' });
    await client(gw, { apiKey: odd }).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] });
    const jsonl = await eventually(async () => {
      const text = await (await get('/admin/usage/export?from=1h&format=jsonl', admin)).text();
      return text.includes('line\\u2028sep') ? text : undefined;
    });
    assert.ok(jsonl);
    assert.ok(!/[\u2028\u2029]/.test(jsonl), 'no raw U+2028/U+2029 in the JSON lines');
    const row = jsonl.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.subject === 'line\u2028sep');
    assert.equal(row?.team, 'para\u2029sep');

    const csv = await (await get('/admin/usage/export?from=1h&format=csv', admin)).text();
    const line = csv.split('\r\n').find((l) => l.includes('line\u2028sep'));
    assert.ok(line);
    assert.ok(line.includes(',"line\u2028sep","para\u2029sep",'), line);
  });

  test('records every /admin call in the audit log, refused ones included, with who, what and the outcome', async () => {
    const anonymous = await get('/admin/usage?from=1h');
    assert.equal(anonymous.status, 401);
    const forbidden = await get('/admin/limits', user, { 'x-request-id': 'audit-forbidden-1' });
    assert.equal(forbidden.status, 403);
    assert.equal((await get('/console/api/config', user, { 'x-request-id': 'audit-console-1' })).status, 403);
    assert.equal((await get('/metrics', undefined, { 'x-request-id': 'audit-metrics-1' })).status, 401);
    assert.equal((await get('/metrics', admin, { 'x-request-id': 'audit-metrics-ok' })).status, 200);
    const leaky = await get(`/admin/limits?access_token=${user}&subject=carol`, undefined, { 'x-request-id': 'audit-leaky-1' });
    assert.equal(leaky.status, 401);
    const ok = await get('/admin/usage?group_by=team', admin);
    assert.equal(ok.status, 200);
    const okId = ok.headers.get('x-request-id');
    assert.ok(okId);

    const entries = (await eventually(async () => {
      const res = await get('/admin/audit?from=1h', admin);
      const body = (await res.json()) as { data: Array<Record<string, unknown>> };
      return body.data.some((e) => e.request_id === okId) ? body.data : undefined;
    }))!;
    // Paging: `has_more` when the range holds more than `limit`; `order=desc` lists the newest first.
    const one = (await (await get('/admin/audit?from=1h&limit=1', admin)).json()) as { has_more: boolean; data: Array<{ time: string }> };
    assert.equal(one.data.length, 1);
    assert.equal(one.has_more, true);
    const all = (await (await get('/admin/audit?from=1h', admin)).json()) as { has_more: boolean; data: Array<{ time: string; request_id: string }> };
    assert.equal(all.has_more, false);
    // (each audit call is audited too: the newest entries are the calls just made)
    const newest = (await (await get('/admin/audit?from=1h&order=desc&limit=5', admin)).json()) as { data: Array<{ time: string; path: string }> };
    const times = newest.data.map((e) => Date.parse(e.time));
    assert.deepEqual(times, [...times].sort((x, y) => y - x), 'newest first');
    assert.ok(times[0]! >= Date.parse(all.data.at(-1)!.time));
    assert.match(newest.data[0]!.path, /^\/admin\/audit\?from=1h/);
    assert.equal((await get('/admin/audit?order=newest', admin)).status, 400);
    const denied = entries.filter((e) => e.outcome === 'denied');
    const unauthenticated = denied.find((e) => e.status === 401 && e.path === '/admin/usage?from=1h');
    assert.ok(unauthenticated, 'the refused anonymous call is there');
    assert.equal(unauthenticated.subject, null);
    const noScope = denied.find((e) => e.request_id === 'audit-forbidden-1');
    assert.ok(noScope, 'the call without the admin scope is there, under its request id');
    assert.deepEqual([noScope.status, noScope.subject, noScope.team, noScope.method, noScope.path], [403, 'carol', 'research', 'GET', '/admin/limits']);
    // The console's data and refused scrapes are audited; an answered scrape is not (a scraper calls every few seconds).
    assert.deepEqual(['audit-console-1', 'audit-metrics-1'].map((id) => entries.find((e) => e.request_id === id)?.status), [403, 401]);
    assert.equal(entries.find((e) => e.request_id === 'audit-console-1')?.subject, 'carol');
    assert.ok(!entries.some((e) => e.request_id === 'audit-metrics-ok'));
    // A credential put in the URL is not kept in the audit table.
    const leak = entries.find((e) => e.request_id === 'audit-leaky-1');
    assert.equal(leak?.path, '/admin/limits?access_token=redacted&subject=carol');
    const answered = entries.find((e) => e.request_id === okId)!;
    assert.deepEqual([answered.status, answered.outcome, answered.subject, answered.team], [200, 'ok', 'root', 'ops']);
    assert.match(String(answered.time), /^\d{4}-\d\d-\d\dT/);
  });
});
