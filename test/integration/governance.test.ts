import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { assertMatchesSpec, client, eventually, startSims, startTestGateway } from '../helpers/harness.js';
import { startIdp, type TestIdp } from '../helpers/idp.js';

describe('JWT scopes, rate limits, quotas and the usage log', () => {
  let sims: SimServer[];
  let idp: TestIdp;
  let gw: Gateway;
  let dir: string;
  let admin: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'infergate-gov-'));
    sims = await startSims(1);
    idp = await startIdp();
    gw = await startTestGateway(
      [
        { name: 'llama', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] },
        { name: 'secret-model', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] },
        { name: 'down', backends: [{ url: 'http://127.0.0.1:1' }], retries: 0 },
      ],
      {
        sections: {
          auth: { issuers: [{ issuer: idp.issuer, audience: 'infergate', jwks_url: idp.jwksUrl, algorithms: ['RS256'] }] },
          limits: [
            { match: { subject: 'limited' }, rpm: 2 },
            { match: { subject: 'tokens' }, tpm: 100 },
            { match: { subject: 'solo' }, concurrency: 1 },
          ],
          quotas: [{ match: { team: 'broke' }, tokens_per_day: 30 }],
          usage: { sqlite: join(dir, 'usage.db'), flush_interval: '20ms' },
        },
      },
    );
    admin = await idp.issueToken({ sub: 'root', scope: 'models:* admin' });
  });
  after(async () => {
    await gw.close(100);
    await Promise.all(sims.map((s) => s.close()));
    await idp.close();
    await rm(dir, { recursive: true, force: true });
  });

  const ask = (token: string, model = 'llama', extra: Record<string, unknown> = {}) =>
    client(gw, { apiKey: token }).chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], ...extra } as never);

  test('refuses a missing token with 401 and WWW-Authenticate', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
    assertMatchesSpec('ErrorResponse', await res.json());
  });

  test('refuses expired, wrongly signed and wrong-audience tokens with a clear reason', async () => {
    const expired = await idp.issueToken({ scope: 'models:*' }, { expiresInS: -120 });
    await assert.rejects(ask(expired), (e: unknown) => e instanceof OpenAI.AuthenticationError && /expired/i.test(e.message));
    const good = await idp.issueToken({ scope: 'models:*' });
    const tampered = good.slice(0, -4) + (good.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    await assert.rejects(ask(tampered), (e: unknown) => e instanceof OpenAI.AuthenticationError && /signature/i.test(e.message));
    const wrongAud = await idp.issueToken({ scope: 'models:*' }, { audience: 'someone-else' });
    await assert.rejects(ask(wrongAud), (e: unknown) => e instanceof OpenAI.AuthenticationError && /audience/i.test(e.message));
  });

  test('answers 403 naming the model a valid token may not use, and hides it from /v1/models', async () => {
    const token = await idp.issueToken({ scope: 'models:llama' });
    await assert.rejects(ask(token, 'secret-model'), (e: unknown) => e instanceof OpenAI.PermissionDeniedError && /secret-model/.test(e.message));
    const list = await client(gw, { apiKey: token }).models.list();
    assert.deepEqual(list.data.map((m) => m.id), ['llama']);
    const ok = await ask(token);
    assert.ok(ok.choices.length > 0);
  });

  test('limits an operation scope to its endpoint', async () => {
    const token = await idp.issueToken({ scope: 'models:llama:embeddings' });
    await assert.rejects(ask(token), OpenAI.PermissionDeniedError);
    const emb = await client(gw, { apiKey: token }).embeddings.create({ model: 'llama', input: 'x' });
    assert.equal(emb.data.length, 1);
  });

  test('rate limits requests per minute with OpenAI headers and Retry-After', async () => {
    const token = await idp.issueToken({ sub: 'limited', scope: 'models:*' });
    await ask(token);
    await ask(token);
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'third' }] }),
    });
    assert.equal(res.status, 429);
    const body = (await res.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'rate_limit_exceeded');
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
    assert.ok(Number(res.headers.get('retry-after-ms')) > 0);
    assert.equal(res.headers.get('x-ratelimit-limit-requests'), '2');
    assert.equal(res.headers.get('x-ratelimit-remaining-requests'), '0');
    assert.match(res.headers.get('x-ratelimit-reset-requests') ?? '', /^(\d+m)?\d+(\.\d+)?(ms|s)$/);
  });

  test('charges tokens per minute with the real usage, not the estimate', async () => {
    const token = await idp.issueToken({ sub: 'tokens', scope: 'models:*' });
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
    });
    assert.equal(res.status, 200);
    const used = ((await res.json()) as { usage: { total_tokens: number } }).usage.total_tokens;
    // After settling, the remaining budget reflects the actual usage of this request.
    const snap = await fetch(`${gw.url}/admin/limits?subject=tokens`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(snap.status, 200);
    assert.match(await snap.text(), /tokens/);
    const next = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
    });
    const remaining = Number(next.headers.get('x-ratelimit-remaining-tokens'));
    assert.ok(remaining <= 100 - used, `remaining ${remaining} after using ${used}`);
    await next.text();
  });

  test('caps concurrent requests per subject', async () => {
    const token = await idp.issueToken({ sub: 'solo', scope: 'models:*' });
    const slow = ask(token, 'llama', { stream: false, sim_fault: { stall_before_first_ms: 400 } });
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(ask(token), (e: unknown) => e instanceof OpenAI.RateLimitError && /concurrent/i.test(e.message));
    await slow;
    const after = await ask(token);
    assert.ok(after.choices.length > 0);
  });

  test('refuses with insufficient_quota once a team quota is spent', async () => {
    const token = await idp.issueToken({ sub: 'poor', team: 'broke', scope: 'models:*' });
    let err: unknown = null;
    for (let i = 0; i < 5 && !err; i++) err = await ask(token, 'llama', { max_tokens: 5 }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof OpenAI.RateLimitError);
    assert.equal((err as InstanceType<typeof OpenAI.RateLimitError>).code, 'insufficient_quota');
  });

  test("a 429 that waiting cannot cure is not retried by OpenAI's SDK (x-should-retry: false)", async () => {
    // The SDK's own defaults: two retries, each after `retry-after` however long. Every call it makes is counted.
    let calls = 0;
    const counting = (token: string) =>
      new OpenAI({
        baseURL: `${gw.url}/v1`,
        apiKey: token,
        fetch: (url: string | URL | Request, init?: RequestInit) => {
          calls++;
          return fetch(url, init);
        },
      });
    const say = (sdk: OpenAI, max_tokens: number) => sdk.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }], max_tokens });

    // More tokens than the whole tokens-per-minute limit: no wait makes it fit.
    const tooBig = await say(counting(await idp.issueToken({ sub: 'tokens', scope: 'models:*' })), 500).then(
      () => assert.fail('a request over the whole limit was admitted'),
      (e: unknown) => e,
    );
    assert.ok(tooBig instanceof OpenAI.RateLimitError);
    assert.match(tooBig.message, /Request too large/);
    assert.equal(tooBig.headers.get('x-should-retry'), 'false');
    assert.equal(calls, 1);

    // A spent daily quota: retry-after says how long until midnight UTC, and the SDK does not sleep on it.
    const poor = counting(await idp.issueToken({ sub: 'poorer', team: 'broke', scope: 'models:*' }));
    let spent: unknown = null;
    for (let i = 0; i < 8 && spent === null; i++) spent = await say(poor, 5).then(() => null, (e: unknown) => e);
    assert.ok(spent instanceof OpenAI.RateLimitError);
    assert.equal(spent.code, 'insufficient_quota');
    assert.equal(spent.headers.get('x-should-retry'), 'false');
    assert.ok(Number(spent.headers.get('retry-after')) >= 1);
    const before = calls;
    await assert.rejects(say(poor, 5), OpenAI.RateLimitError);
    assert.equal(calls, before + 1);

    // An ordinary rate limit stays retryable: its hint is seconds, and the SDK waits and tries again.
    const limited = await idp.issueToken({ sub: 'limited', scope: 'models:*' });
    let res: Response | null = null;
    for (let i = 0; i < 3 && res?.status !== 429; i++) {
      await res?.text();
      res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${limited}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'again' }] }),
      });
    }
    assert.equal(res!.status, 429);
    assert.ok(Number(res!.headers.get('retry-after')) >= 1);
    assert.equal(res!.headers.get('x-should-retry'), null);
    await res!.text();
  });

  test('records one usage row per request whatever the outcome, and reports them to admins only', async () => {
    const who = await idp.issueToken({ sub: 'auditor', team: 'audit', scope: 'models:llama models:down' });
    await ask(who); // success
    await ask(who, 'secret-model').catch(() => {}); // 403
    await ask(who, 'down').catch(() => {}); // 502
    const stream = await ask(who, 'llama', { stream: true, max_tokens: 3 });
    for await (const _ of stream as unknown as AsyncIterable<unknown>) {
      // drain
    }
    await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer nonsense' }, body: '{}' }); // 401
    const forbidden = await fetch(`${gw.url}/admin/usage`, { headers: { authorization: `Bearer ${who}` } });
    assert.equal(forbidden.status, 403);

    const report = await eventually(async () => {
      const res = await fetch(`${gw.url}/admin/usage?group_by=subject,model&from=1h`, { headers: { authorization: `Bearer ${admin}` } });
      const json = (await res.json()) as { data: Array<{ subject: string; model: string; requests: number; errors: number; prompt_tokens: number; completion_tokens: number }> };
      const rows = json.data.filter((r) => r.subject === 'auditor');
      return rows.reduce((n, r) => n + r.requests, 0) >= 4 ? rows : undefined;
    }).then((r) => r!);
    const llama = report.find((r) => r.model === 'llama')!;
    assert.equal(llama.requests, 2);
    assert.ok(llama.prompt_tokens > 0 && llama.completion_tokens > 0, 'streamed usage was recorded');
    assert.equal(report.find((r) => r.model === 'secret-model')?.errors, 1);
    assert.equal(report.find((r) => r.model === 'down')?.errors, 1);

    const csv = await fetch(`${gw.url}/admin/usage?group_by=team`, { headers: { authorization: `Bearer ${admin}`, accept: 'text/csv' } });
    assert.match(csv.headers.get('content-type') ?? '', /text\/csv/);
    const lines = (await csv.text()).trim().split(/\r?\n/);
    assert.match(lines[0]!, /^team,requests/);
    assert.ok(lines.some((l) => l.startsWith('audit,')));
  });
});
