import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SignJWT } from 'jose';
import { closeAll, eventually, startSims, startTestGateway } from '../helpers/harness.js';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';

const SECRET = 'abort-mid-upload-secret-0123456789abcdef';
let sim: SimServer;
let gw: Gateway;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ig-abort-upload-'));
  [sim] = (await startSims(1)) as [SimServer];
  gw = await startTestGateway([{ name: 'llama', backends: [{ url: sim.url, model: 'sim-llama-8b' }] }], {
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

test('a client that closes its side in the middle of the body is a client abort (499) in the usage log, not a 400 malformed_http', async () => {
  const token = await new SignJWT({ scope: 'models:*' }).setProtectedHeader({ alg: 'HS256' }).setSubject('uploader').setIssuer('dev').setAudience('infergate').setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
  const body = JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'x '.repeat(5000) }] });
  const answer = await new Promise<string>((resolve) => {
    const sock = connect(gw.port, '127.0.0.1', () => {
      sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 100)}`);
      setTimeout(() => sock.end(), 100); // FIN halfway through the body, as an aborted upload does
    });
    let got = '';
    sock.on('data', (d) => (got += d.toString()));
    sock.on('error', () => {});
    sock.on('close', () => resolve(got));
  });
  assert.ok(!answer.includes('malformed_http'), answer);
  const row = await eventually(() => {
    gw.usage!.flush();
    const db = new Database(join(dir, 'usage.db'), { readonly: true });
    try {
      return db.prepare("SELECT status, error_code FROM usage WHERE subject = 'uploader'").get() as { status: number; error_code: string } | undefined;
    } finally {
      db.close();
    }
  });
  assert.deepEqual({ ...row }, { status: 499, error_code: 'client_closed_request' });
});
