import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { SimServer } from '../../src/sim/index.js';
import { eventually, startSims } from '../helpers/harness.js';
import { startGovernedGateway, type GovernedGateway } from '../endpoints/helpers.js';

/**
 * A request refused before its body is read (no credentials) is answered once and its connection closed: Node would
 * otherwise wait for the rest of a slow upload and answer a second time (408) on the same connection.
 */
describe('a refusal before the body', () => {
  let sim: SimServer;
  let g: GovernedGateway;

  before(async () => {
    sim = (await startSims(1))[0]!;
    g = await startGovernedGateway([{ name: 'llama', backends: [{ url: sim.url, model: 'sim-llama-8b' }] }], {}, { timeouts: { body: '1s' } });
  });
  after(async () => {
    await g.close();
    await sim.close();
  });

  async function exchange(head: string): Promise<string> {
    const { port } = new URL(g.gw.url);
    const socket = connect(Number(port), '127.0.0.1');
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(head);
    const trickle = setInterval(() => socket.writable && socket.write(' '), 200);
    await Promise.race([closed, new Promise((r) => setTimeout(r, 3000))]);
    clearInterval(trickle);
    socket.destroy();
    return text;
  }

  test('a caller whose scopes grant no model for the endpoint is refused before its upload is read', async () => {
    const chatOnly = await g.token('models:llama:chat', 'erin');
    const text = await exchange(
      `POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${chatOnly}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 10000000\r\n\r\n--b\r\n`,
    );
    assert.deepEqual(text.match(/HTTP\/1\.1 \d{3}/g) ?? [], ['HTTP/1.1 403'], text.slice(0, 400));
    assert.match(text, /grants no model for audio/);
    // The same token still reaches what it may use.
    const ok = await fetch(`${g.gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${chatOnly}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(ok.status, 200);
  });

  test('answers 401 once and closes the connection, with the upload still declared', async () => {
    const { port } = new URL(g.gw.url);
    const socket = connect(Number(port), '127.0.0.1');
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{');
    // Keep trickling, as a slow uploader would, past the body timeout.
    const trickle = setInterval(() => socket.writable && socket.write(' '), 200);
    await Promise.race([closed, new Promise((r) => setTimeout(r, 3000))]);
    clearInterval(trickle);
    socket.destroy();
    const answers = text.match(/HTTP\/1\.1 \d{3}/g) ?? [];
    assert.deepEqual(answers, ['HTTP/1.1 401'], text.slice(0, 400));
    assert.match(text, /connection: close/i);
  });
  test('Expect: 100-continue: a caller refused before its body is never invited to upload it; an allowed one is', async () => {
    const { port } = new URL(g.gw.url);
    const ask = (auth: string) =>
      new Promise<string>((resolve) => {
        const socket = connect(Number(port), '127.0.0.1');
        let text = '';
        socket.on('data', (c: Buffer) => {
          text += c.toString('latin1');
          // An invitation is answered with the body, as a client would.
          if (/^HTTP\/1\.1 100/.test(text) && !socket.destroyed) socket.write(JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] }).padEnd(60));
        });
        socket.on('close', () => resolve(text));
        setTimeout(() => socket.destroy(), 3000);
        const body = JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] }).padEnd(60);
        socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
      });
    const refused = await ask('');
    assert.doesNotMatch(refused, /HTTP\/1\.1 100/);
    assert.match(refused, /^HTTP\/1\.1 401/);
    const allowed = await ask(`Authorization: Bearer ${await g.token('models:llama:chat', 'gina')}\r\n`);
    assert.match(allowed, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200/);
  });
  test('an upload refused mid-body (413) and then abandoned by its client leaves one answer and one usage row', async () => {
    const token = await g.token('models:*', 'hal');
    const { port } = new URL(g.gw.url);
    const socket = connect(Number(port), '127.0.0.1');
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('error', () => {});
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n`);
    for (let i = 0; i < 2000 && !text.includes('\r\n\r\n'); i++) {
      socket.write('x'.repeat(65536));
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.match(text, /^HTTP\/1\.1 413/);
    socket.end(); // the client gives up mid-body, as curl does on a 413
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
    socket.destroy();
    const rows = await eventually(() => {
      const mine = g.usageRows().filter((r) => r.subject === 'hal' || r.error_code === 'malformed_http');
      return mine.length > 0 ? mine : null;
    }, 5000);
    await new Promise((r) => setTimeout(r, 300));
    const after = g.usageRows().filter((r) => r.subject === 'hal' || r.error_code === 'malformed_http');
    assert.equal(rows!.length, 1);
    assert.deepEqual(after.map((r) => [r.status, r.error_code]), [[413, 'request_too_large']]);
    assert.equal((text.match(/HTTP\/1\.1 \d{3}/g) ?? []).length, 1);
  });
});
