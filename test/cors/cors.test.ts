import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestGateway, startSims, configYaml } from '../helpers/harness.js';
import { startGateway, silentLogger, type Gateway } from '../../src/server/index.js';
import { parseConfigText } from '../../src/config/index.js';
import type { SimServer } from '../../src/sim/index.js';

const APP = 'https://app.example.com';
const SDK_HEADERS = 'authorization, content-type, x-stainless-os, x-stainless-retry-count';

function preflight(gw: Gateway, path: string, origin: string, headers = SDK_HEADERS, method = 'POST'): Promise<Response> {
  return fetch(`${gw.url}${path}`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
  });
}

const chat = (gw: Gateway, origin: string | null, extra: Record<string, unknown> = {}) =>
  fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(origin ? { origin } : {}) },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra }),
  });

describe('server.cors', () => {
  let sims: SimServer[];
  let gw: Gateway;
  let plain: Gateway;
  before(async () => {
    sims = await startSims(1);
    const models = [{ name: 'm', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] }];
    gw = await startTestGateway(models, { server: { cors: { origins: [`${APP}/`, 'https://*.corp.example', 'HTTP://LOCALHOST:3000'], max_age: '1h' } } });
    plain = await startTestGateway(models);
  });
  after(async () => {
    await gw?.close(100);
    await plain?.close(100);
    await Promise.all((sims ?? []).map((s) => s.close()));
  });

  test('a preflight from an allowed origin is answered 204 before authentication, with what the browser asked for', async () => {
    const res = await preflight(gw, '/v1/chat/completions', APP);
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
    assert.equal(res.headers.get('access-control-allow-headers'), SDK_HEADERS);
    assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.equal(res.headers.get('access-control-max-age'), '3600');
    assert.equal(res.headers.get('access-control-allow-credentials'), null, 'never credentials mode');
    assert.match(res.headers.get('vary') ?? '', /Origin/);
    assert.ok(res.headers.get('x-request-id'));
    assert.equal(res.headers.get('content-length'), null, 'a 204 has no content-length');
    // Every route: the admin and model routes are preflighted the same way.
    for (const path of ['/v1/models', '/admin/usage', '/v1/responses', '/v1/messages']) {
      assert.equal((await preflight(gw, path, APP, 'authorization', 'GET')).status, 204, path);
    }
  });

  test('written origins are normalised; subdomain patterns match subdomains, not the apex or look-alikes', async () => {
    assert.equal((await preflight(gw, '/v1/chat/completions', 'http://localhost:3000')).status, 204);
    assert.equal((await preflight(gw, '/v1/chat/completions', 'https://team.corp.example')).headers.get('access-control-allow-origin'), 'https://team.corp.example');
    assert.equal((await preflight(gw, '/v1/chat/completions', 'https://a.b.corp.example')).status, 204);
    for (const origin of ['https://corp.example', 'https://evilcorp.example', 'http://team.corp.example', 'https://app.example.com.evil.net', 'null', 'https://app.example.com:8443']) {
      const res = await preflight(gw, '/v1/chat/completions', origin);
      assert.equal(res.status, 403, origin);
      assert.equal(res.headers.get('access-control-allow-origin'), null, origin);
      const body = (await res.json()) as { error: { code: string; type: string; message: string } };
      assert.equal(body.error.code, 'origin_not_allowed');
      assert.equal(body.error.type, 'permission_error');
      assert.match(body.error.message, /server\.cors\.origins/);
    }
  });

  test('every method a route answers is allowed: PATCH /admin/keys/:id too', async () => {
    const res = await preflight(gw, '/admin/keys/k1', APP, 'authorization, content-type', 'PATCH');
    assert.equal(res.status, 204);
    const allowed = (res.headers.get('access-control-allow-methods') ?? '').split(/\s*,\s*/);
    for (const m of ['GET', 'POST', 'PATCH', 'DELETE']) assert.ok(allowed.includes(m), `${m} in ${allowed.join()}`);
  });

  test('a header list that is not one is not echoed back', async () => {
    const res = await preflight(gw, '/v1/chat/completions', APP, 'authorization, x-a;b');
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-headers'), null);
  });

  test('answers to an allowed origin carry the allow and expose headers, errors and streams included', async () => {
    let res = await chat(gw, APP);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /x-request-id/);
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /x-ratelimit-remaining-tokens/);
    assert.match(res.headers.get('vary') ?? '', /Origin/);
    await res.text();
    res = await chat(gw, APP, { stream: true });
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
    assert.match(await res.text(), /\[DONE\]/);
    res = await chat(gw, APP, { model: 'nope' });
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('access-control-allow-origin'), APP, 'an error is readable by the page too');
    await res.text();
    res = await fetch(`${gw.url}/v1/models`, { headers: { origin: APP } });
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
    await res.text();
  });

  test("the console's assets vary by Origin too: their own Vary does not replace the one CORS needs", async () => {
    for (const origin of [APP, 'https://evil.example']) {
      const res = await fetch(`${gw.url}/console`, { headers: { origin, 'accept-encoding': 'gzip' } });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('vary') ?? '', /origin/i, origin);
      assert.match(res.headers.get('vary') ?? '', /accept-encoding/i, origin);
      await res.arrayBuffer();
    }
  });

  test('other origins are served without CORS headers (the browser keeps the answer from the page)', async () => {
    const res = await chat(gw, 'https://evil.example');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    assert.match(res.headers.get('vary') ?? '', /Origin/);
    await res.text();
  });

  test('without server.cors nothing changes: no CORS headers, OPTIONS is refused', async () => {
    const res = await chat(plain, APP);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    await res.text();
    const pre = await preflight(plain, '/v1/chat/completions', APP);
    assert.equal(pre.status, 405);
    assert.equal(pre.headers.get('access-control-allow-origin'), null);
    await pre.text();
  });

  test('origins that are not origins are refused at load with the key and the expected form', () => {
    for (const bad of ['app.example.com', 'https://app.example.com/v1', 'ftp://app.example.com', 'https://u:p@app.example.com', 'https://app.example.com?x=1', 'https://*', 'https://*.', 'https://*.*.example.com', 'https://a*b.example.com']) {
      assert.throws(() => parseConfigText(configYaml([{ name: 'm', backends: [{ url: 'http://127.0.0.1:1' }] }], { cors: { origins: [bad] } }), '(test)'), (err: Error) => {
        assert.match(err.message, /server\.cors\.origins/, bad);
        assert.match(err.message, /expected an origin/, bad);
        return true;
      });
    }
    assert.throws(() => parseConfigText(configYaml([{ name: 'm', backends: [{ url: 'http://127.0.0.1:1' }] }], { cors: { origins: [] } }), '(test)'), /at least one origin/);
  });

  test('a reload changes the origins at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'infergate-cors-'));
    const file = join(dir, 'infergate.yaml');
    const models = [{ name: 'm', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] }];
    await writeFile(file, configYaml(models, { cors: { origins: [APP] } }));
    const g = await startGateway({ configFile: file, logger: silentLogger, watch: false, listen: { host: '127.0.0.1', port: 0 } });
    try {
      assert.equal((await preflight(g, '/v1/chat/completions', 'https://other.example')).status, 403);
      await writeFile(file, configYaml(models, { cors: { origins: ['*'] } }));
      assert.equal(await g.reload(), true);
      const res = await preflight(g, '/v1/chat/completions', 'https://other.example');
      assert.equal(res.status, 204);
      assert.equal(res.headers.get('access-control-allow-origin'), '*');
      await writeFile(file, configYaml(models));
      assert.equal(await g.reload(), true);
      assert.equal((await preflight(g, '/v1/chat/completions', APP)).status, 405);
    } finally {
      await g.close(100);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
