import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SignJWT } from 'jose';
import { closeAll, eventually, startSims, startTestGateway } from '../helpers/harness.js';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { parseAllRaw, rawExchange } from './raw.js';

const SECRET = 'protocol-test-secret-0123456789abcdef';

function assertEnvelope(res: { status: number; headers: Record<string, string>; body: string }, status: number, code: string) {
  assert.equal(res.status, status, res.body);
  assert.match(res.headers['content-type'] ?? '', /application\/json/);
  assert.ok(res.headers['x-request-id'], 'the refusal carries a request id');
  const body = JSON.parse(res.body) as { error: { message: string; type: string; param: unknown; code: string } };
  assert.equal(body.error.code, code);
  assert.equal(body.error.type, 'invalid_request_error');
  assert.ok(body.error.message.length > 0);
  assert.ok('param' in body.error);
}

describe('protocol-level refusals are answered in the OpenAI envelope and logged', () => {
  let sim: SimServer;
  let gw: Gateway;
  let dir: string;
  const rows = () => {
    gw.usage!.flush();
    const db = new Database(join(dir, 'usage.db'), { readonly: true });
    try {
      return db.prepare('SELECT request_id, status, error_code, subject FROM usage ORDER BY id').all() as Array<{ request_id: string; status: number; error_code: string | null; subject: string }>;
    } finally {
      db.close();
    }
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ig-protocol-'));
    [sim] = (await startSims(1)) as [SimServer];
    gw = await startTestGateway([{ name: 'llama', backends: [{ url: sim.url, model: 'sim-llama-8b' }] }], {
      server: { max_header_size: '24KiB', timeouts: { body: '400ms' } },
      sections: {
        auth: { issuers: [{ issuer: 'dev', audience: 'infergate', secret: SECRET, algorithms: ['HS256'] }] },
        usage: { sqlite: join(dir, 'usage.db'), flush_interval: '20ms' },
      },
    });
  });
  after(async () => {
    await closeAll(gw, sim);
    rmSync(dir, { recursive: true, force: true });
  });

  test('headers over server.max_header_size get a 431 envelope and a usage row', async () => {
    const res = await rawExchange(gw.port, [`GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(30_000)}\r\n\r\n`]);
    assertEnvelope(res, 431, 'request_header_fields_too_large');
    const row = rows().find((r) => r.request_id === res.headers['x-request-id']);
    assert.equal(row?.status, 431);
    assert.equal(row?.error_code, 'request_header_fields_too_large');
  });

  test('a token over auth.max_token_bytes but under the header limit gets the gateway\'s own 401', async () => {
    const res = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${'a'.repeat(17_000)}.b.c` } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /invalid_token/);
    const body = (await res.json()) as { error: { message: string } };
    assert.match(body.error.message, /larger than this gateway accepts/);
  });

  test('bytes that are not HTTP get a 400 envelope', async () => {
    const res = await rawExchange(gw.port, ['GARBAGE\x01\x02 / HTTP/9\r\n\r\n']);
    assertEnvelope(res, 400, 'malformed_http');
  });

  test('a body that stops arriving gets a 408 envelope, and its usage row says 408', async () => {
    const id = 'body-timeout-1';
    const token = await new SignJWT({ scope: 'models:*' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('dev')
      .setAudience('infergate')
      .setSubject('trickler')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET));
    const head =
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n` +
      `Authorization: Bearer ${token}\r\nX-Request-Id: ${id}\r\n\r\n{"model":"llama",`;
    const res = await rawExchange(gw.port, [head]);
    assertEnvelope(res, 408, 'request_timeout');
    assert.equal(res.headers['connection'], 'close');
    assert.equal(res.headers['x-request-id'], id);
    const row = await eventually(() => rows().find((r) => r.request_id === id));
    assert.ok(row);
    assert.equal(row.status, 408);
    assert.equal(row.error_code, 'request_timeout');
    assert.equal(row.subject, 'trickler');
  });

  test('oversized chunk extensions get a 413 envelope, and the request\'s usage row says 413', async () => {
    const token = await new SignJWT({ scope: 'models:*' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('dev')
      .setAudience('infergate')
      .setSubject('chunker')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET));
    const id = 'chunk-ext-1';
    const res = await rawExchange(gw.port, [
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n` +
        `Authorization: Bearer ${token}\r\nX-Request-Id: ${id}\r\n\r\n`,
      `5;${'e'.repeat(20_000)}\r\n{"mod\r\n`,
    ], 50);
    assertEnvelope(res, 413, 'request_too_large');
    assert.match(JSON.parse(res.body).error.message, /chunk extensions/);
    const row = await eventually(() => rows().find((r) => r.request_id === id));
    assert.ok(row);
    assert.equal(row.status, 413);
  });

  test('bad bytes pipelined behind a whole request do not take its answer: it is served, then the 400, then close', async () => {
    const token = await new SignJWT({ scope: 'models:*' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('dev')
      .setAudience('infergate')
      .setSubject('pipeliner')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET));
    const body = JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 });
    const chat = (id: string) =>
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${token}\r\n` +
      `X-Request-Id: ${id}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const cases: Array<{ id: string; parts: string[]; gap: number }> = [
      { id: 'pipelined-same-write', parts: [`${chat('pipelined-same-write')}GARBAGE\r\n\r\n`], gap: 0 },
      { id: 'pipelined-later', parts: [chat('pipelined-later'), 'GARBAGE\x01 / HTTP/9\r\n\r\n'], gap: 20 },
    ];
    for (const c of cases) {
      const res = await rawExchange(gw.port, c.parts, c.gap);
      const [first, second, ...more] = parseAllRaw(res.raw);
      assert.equal(first?.status, 200, res.raw.slice(0, 300));
      assert.equal(first.headers['x-request-id'], c.id);
      assert.equal((JSON.parse(first.body) as { object: string }).object, 'chat.completion');
      assert.ok(second, `${c.id}: the refusal follows the answer`);
      assertEnvelope(second, 400, 'malformed_http');
      assert.equal(second.headers['connection'], 'close');
      assert.equal(more.length, 0);
      // What the records say is what the client saw.
      const row = await eventually(() => rows().find((r) => r.request_id === c.id));
      assert.equal(row?.status, 200);
    }
    // A Hono route too, and a request that asked to close: its answer, and nothing after it.
    const health = await rawExchange(gw.port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n']);
    const [h, h2] = parseAllRaw(health.raw);
    assert.equal(h?.status, 200, health.raw.slice(0, 300));
    assertEnvelope(h2!, 400, 'malformed_http');
    const closing = await rawExchange(gw.port, ['GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nX']);
    const answers = parseAllRaw(closing.raw);
    assert.deepEqual(answers.map((a) => a.status), [200]);
  });

  test('headers that never finish get a 408 envelope and a usage row', async () => {
    const res = await rawExchange(gw.port, ['GET /v1/models HTTP/1.1\r\nHost: x\r\n']);
    assertEnvelope(res, 408, 'request_timeout');
    const row = rows().find((r) => r.request_id === res.headers['x-request-id']);
    assert.equal(row?.status, 408);
  });
});
