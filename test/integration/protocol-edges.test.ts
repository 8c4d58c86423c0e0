import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { startSims, startTestGateway } from '../helpers/harness.js';

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The gateway ended the connection (we never close first). */
  closed: boolean;
}

/** Writes bytes on a fresh connection and reads the first answer; `closed` says whether the gateway hung up. */
function raw(port: number, bytes: string, waitMs = 1500): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`no answer (got ${JSON.stringify(data)}, closed: ${closed})`));
      const [statusLine, ...lines] = data.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body: data.slice(end + 4), closed });
    };
    const timer = setTimeout(finish, waitMs);
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    socket.on('end', () => {
      closed = true;
      finish();
    });
    socket.on('error', () => finish());
    socket.write(bytes);
  });
}

function assertEnvelope(a: { status: number; headers: Record<string, string>; body: string }, status: number, code: string): Record<string, unknown> {
  assert.equal(a.status, status, a.body);
  assert.match(a.headers['x-request-id'] ?? '', /^\S+$/, 'x-request-id');
  assert.match(a.headers['content-type'] ?? '', /^application\/json/);
  const err = (JSON.parse(a.body) as { error: Record<string, unknown> }).error;
  assert.deepEqual(Object.keys(err).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(err.code, code);
  assert.equal(typeof err.message, 'string');
  return err;
}

describe('paths below /v1/responses/ that are not a response id', () => {
  let sims: SimServer[];
  let gw: Gateway;
  const create = JSON.stringify({ model: 'sim-llama-8b', input: 'hi' });
  const generations = () => sims[0]!.log.entries.filter((e) => /\/(responses|chat\/completions)$/.test(e.path)).length;

  before(async () => {
    sims = await startSims(1);
    gw = await startTestGateway([{ name: 'sim-llama-8b', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] }]);
  });
  after(async () => {
    await gw.close(100);
    await Promise.all(sims.map((s) => s.close()));
  });

  const post = (path: string) => fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: create });
  const answerOf = async (res: Response) => ({ status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() });

  test('answer the 404 of an unknown response and never generate', async () => {
    const known = assertEnvelope(await answerOf(await post('/v1/responses/resp_unknown/cancel')), 404, 'response_not_found');
    const before = generations();
    const long = 'a'.repeat(201);
    for (const path of ['/v1/responses/a%20b/cancel', '/v1/responses/a%2fb/cancel', '/v1/responses/a%2Fb', `/v1/responses/${long}/cancel`, '/v1/responses/a/b', '/v1/responses/']) {
      const a = await answerOf(await post(path));
      // POST on a retrieve route is the route's 405; everything else is the unknown response's 404.
      if (a.status === 405) continue;
      const err = assertEnvelope(a, 404, 'response_not_found');
      assert.equal(err.type, known.type, path);
      assert.equal(err.param, known.param, path);
      assert.ok((err.message as string).length < 500, 'a long id is not echoed whole');
    }
    // GET with a create's body: fetch cannot send one, a socket can.
    for (const path of ['/v1/responses/a%20b', `/v1/responses/${long}`, '/v1/responses/a%2fb/cancel']) {
      const a = await raw(
        gw.port,
        `GET ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${create.length}\r\nConnection: close\r\n\r\n${create}`,
      );
      if (a.status === 405) continue;
      assertEnvelope(a, 404, 'response_not_found');
    }
    assert.equal(generations(), before, 'no path below /v1/responses/ created a response');
  });

  test('only POST /v1/responses creates, in any spelling of that path', async () => {
    const before = generations();
    assert.equal((await post('/v1/responses')).status, 200);
    assert.equal((await post('/v1/%72esponses')).status, 200, 'a percent-encoded spelling is the same path');
    assert.equal(generations(), before + 2);
  });

  test('a family reads the path the router matched, not another spelling of it', async () => {
    // The router's scrapes and probes reach the sim too: look only at the paths a family calls.
    const called = (from: number) => sims[0]!.log.entries.slice(from).map((e) => e.path).filter((p) => /messages|tokenize/.test(p));
    const from = sims[0]!.log.entries.length;
    const res = await fetch(`${gw.url}/v1/messages/%63ount_tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'sim-llama-8b', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(called(from), ['/v1/messages/count_tokens'], 'counted, not generated');
    const tok = await fetch(`${gw.url}/%74okenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'sim-llama-8b', prompt: 'hi' }) });
    assert.equal(tok.status, 200, 'a percent-encoded passthrough path is routed, not a 500');
    assert.deepEqual(called(from), ['/v1/messages/count_tokens', '/tokenize']);
  });
});

describe('refusals Node or node-server would make bare', () => {
  let sims: SimServer[];
  let gw: Gateway;
  const chat = JSON.stringify({ model: 'sim-llama-8b', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });

  before(async () => {
    sims = await startSims(1);
    gw = await startTestGateway([{ name: 'sim-llama-8b', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] }]);
  });
  after(async () => {
    await gw.close(100);
    await Promise.all(sims.map((s) => s.close()));
  });

  test('HTTP/1.1 without Host is a 400 in the envelope, on Hono routes and the hot path alike, and closes', async () => {
    for (const req of [
      'GET /healthz HTTP/1.1\r\n\r\n',
      `POST /v1/chat/completions HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: ${chat.length}\r\n\r\n${chat}`,
    ]) {
      const a = await raw(gw.port, req);
      assertEnvelope(a, 400, 'malformed_http');
      assert.ok(a.closed, 'connection closed');
    }
  });

  test('the caller’s request id is kept on a framing refusal', async () => {
    const a = await raw(gw.port, 'GET /healthz HTTP/1.1\r\nX-Request-Id: probe-1\r\n\r\n');
    assert.equal(a.headers['x-request-id'], 'probe-1');
  });

  test('HTTP/1.0 without Host and an unusable Host are served: Host never routes', async () => {
    for (const req of [
      'GET /v1/models HTTP/1.0\r\n\r\n',
      'GET /v1/models HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n',
      'GET /v1/models HTTP/1.1\r\nHost: x:99999999\r\nConnection: close\r\n\r\n',
      'GET /v1/models HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n',
    ]) {
      const a = await raw(gw.port, req);
      assert.equal(a.status, 200, `${JSON.stringify(req)}: ${a.body}`);
      assert.ok(a.headers['x-request-id']);
      assert.equal((JSON.parse(a.body) as { object: string }).object, 'list');
    }
    const a = await raw(gw.port, `POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: ${chat.length}\r\n\r\n${chat}`);
    assert.equal(a.status, 200, 'the hot path too');
  });

  test('OPTIONS * is refused in the envelope', async () => {
    const a = await raw(gw.port, 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n');
    const err = assertEnvelope(a, 400, 'malformed_http');
    assert.match(err.message as string, /asterisk/);
    assert.ok(a.closed);
  });

  test('an Expect other than 100-continue is a 417 in the envelope, and closes', async () => {
    const a = await raw(gw.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n');
    assertEnvelope(a, 417, 'expectation_failed');
    assert.ok(a.closed);
    // 100-continue is still met.
    const res = await raw(gw.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n');
    assert.equal(res.status, 100);
  });

  test('Expect: 100-continue with a body declared over the limit gets the 413 instead of 100 Continue', async () => {
    const huge = await raw(gw.port, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 107374182400\r\n\r\n');
    assertEnvelope(huge, 413, 'request_too_large');
    assert.ok(huge.closed);
    // Within the limit: 100 Continue, then the body, then the answer.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(gw.port, '127.0.0.1');
      let data = '';
      let sent = false;
      socket.setEncoding('utf8');
      socket.on('error', reject);
      socket.on('data', (d: string) => {
        data += d;
        if (!sent && data.startsWith('HTTP/1.1 100 ')) {
          sent = true;
          socket.write(chat);
        }
      });
      socket.on('end', () => resolve(data));
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nConnection: close\r\nContent-Length: ${chat.length}\r\n\r\n`);
    });
    assert.match(answer, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    assert.match(answer, /"object":"chat\.completion"/);
  });

  test('CONNECT is a 405 with Allow and Connection: close, then the connection closes', async () => {
    const a = await raw(gw.port, 'CONNECT evil:443 HTTP/1.1\r\nHost: evil:443\r\n\r\n');
    assertEnvelope(a, 405, 'method_not_allowed');
    assert.match(a.headers.allow ?? '', /\bGET\b.*\bPOST\b/);
    assert.doesNotMatch(a.headers.allow ?? '', /CONNECT/);
    assert.equal(a.headers.connection?.toLowerCase(), 'close');
    assert.equal(Number(a.headers['content-length']), Buffer.byteLength(a.body));
    assert.ok(a.closed, 'connection closed');
  });

  test('a read-only route answers another method with 405 naming GET, not an unknown route', async () => {
    for (const [method, path] of [['DELETE', '/healthz'], ['POST', '/readyz'], ['POST', '/v1/models'], ['PUT', '/v1/models/m'], ['POST', '/metrics'], ['DELETE', '/admin/usage']]) {
      const res = await fetch(`${gw.url}${path}`, { method });
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.headers.get('allow'), 'GET');
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'method_not_allowed');
    }
  });

  test('the admin key routes and the console answer a method they do not serve with 405 and Allow, not an unknown route', async () => {
    // They answered 404 unknown_url: a client could not tell a wrong method from a wrong path (OPTIONS /admin/keys).
    for (const [method, path, allow] of [
      ['PUT', '/admin/keys', 'GET, POST'],
      ['OPTIONS', '/admin/keys', 'GET, POST'],
      ['POST', '/admin/keys/k7x2m9q4ab', 'GET, PATCH, DELETE'],
      ['GET', '/admin/keys/k7x2m9q4ab/rotate', 'POST'],
      ['PUT', '/admin/keys/k7x2m9q4ab/revoke', 'POST'],
      ['POST', '/console', 'GET'],
      ['DELETE', '/console/api/config', 'GET'],
      ['POST', '/console/api/live', 'GET'],
    ] as const) {
      const a = await raw(gw.port, `${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      assertEnvelope(a, 405, 'method_not_allowed');
      assert.equal(a.headers.allow, allow, `${method} ${path}`);
    }
    // The methods they serve are still theirs.
    assert.equal((await fetch(`${gw.url}/console`)).status, 200);
    assert.notEqual((await fetch(`${gw.url}/admin/keys`, { method: 'POST' })).status, 405);
  });

  test('the gateway still serves after all of it', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chat });
    assert.equal(res.status, 200);
  });
});
