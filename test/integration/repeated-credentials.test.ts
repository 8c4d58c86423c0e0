import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { SignJWT } from 'jose';
import { closeAll, startSims, startTestGateway } from '../helpers/harness.js';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';

/**
 * A request with two Authorization fields is read the same way on every route (Node keeps the first; the Web Headers
 * object the framework routes used joined both into one malformed credential): the API routes and /v1/models, /admin
 * and /metrics must not disagree about who is calling.
 */
const SECRET = 'repeated-credentials-secret-0123456789abcdef';
let sim: SimServer;
let gw: Gateway;

const tokenFor = (scope: string) =>
  new SignJWT({ scope }).setProtectedHeader({ alg: 'HS256' }).setSubject('ops').setIssuer('dev').setAudience('infergate').setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));

before(async () => {
  [sim] = (await startSims(1)) as [SimServer];
  gw = await startTestGateway([{ name: 'llama', backends: [{ url: sim.url, model: 'sim-llama-8b' }] }], {
    sections: { auth: { issuers: [{ issuer: 'dev', audience: 'infergate', secret: SECRET, algorithms: ['HS256'] }] } },
  });
});
after(() => closeAll(gw, sim));

/** The status of a raw request carrying each of `credentials` as its own Authorization field. */
function statusOf(method: string, path: string, credentials: string[], body = ''): Promise<number> {
  const { port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(port), '127.0.0.1');
    let got = '';
    sock.on('data', (d) => {
      got += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      if (m) {
        sock.destroy();
        resolve(Number(m[1]));
      }
    });
    sock.on('error', reject);
    const auth = credentials.map((c) => `Authorization: Bearer ${c}\r\n`).join('');
    const head = body ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` : '';
    sock.write(`${method} ${path} HTTP/1.1\r\nHost: x\r\n${auth}${head}Connection: close\r\n\r\n${body}`);
  });
}

test('the API routes and the framework routes read a repeated Authorization field alike', async () => {
  const admin = await tokenFor('models:* admin');
  const chat = JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
  const cases: Array<[string, string, string]> = [
    ['POST', '/v1/chat/completions', chat],
    ['GET', '/v1/models', ''],
    ['GET', '/admin/limits', ''],
    ['GET', '/metrics', ''],
  ];
  for (const [method, path, body] of cases) {
    assert.equal(await statusOf(method, path, [admin], body), 200, `${path} with one credential`);
    assert.equal(await statusOf(method, path, [admin, 'not-a-token'], body), 200, `${path}: the first of two credentials counts, as on every route`);
    assert.equal(await statusOf(method, path, ['not-a-token', admin], body), 401, `${path}: a bad first credential is refused, as on every route`);
  }
});
