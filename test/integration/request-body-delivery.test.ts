import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { startSims, startTestGateway } from '../helpers/harness.js';

/**
 * The pipeline takes a body that arrived with its headers straight from the request's buffer, and reads a body that
 * arrives later as it comes. Both must give the same answer, whatever the packets look like.
 */
describe('request bodies, however the bytes arrive', () => {
  let sims: SimServer[];
  let gw: Gateway;
  let port: number;

  before(async () => {
    sims = await startSims(1);
    gw = await startTestGateway([{ name: 'm', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] }], { server: { body_limit: '64kb' } });
    port = Number(new URL(gw.url).port);
  });
  after(async () => {
    await gw.close(100);
    await Promise.all(sims.map((s) => s.close()));
  });

  const body = (content: string) => JSON.stringify({ model: 'm', messages: [{ role: 'user', content }], max_tokens: 4 });
  const head = (length: number, extra = '') =>
    `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n${extra}\r\n`;

  /** Sends the parts one write each, `gapMs` apart, on one keep-alive connection; resolves with each response's status and body. */
  async function exchange(requests: string[][], gapMs: number): Promise<Array<{ status: number; body: string }>> {
    const sock = new Socket();
    await new Promise<void>((resolve, reject) => sock.connect(port, '127.0.0.1', resolve).once('error', reject));
    let buf = '';
    const answers: Array<{ status: number; body: string }> = [];
    let wake: (() => void) | null = null;
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      buf += d;
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const m = /content-length: (\d+)/i.exec(buf.slice(0, end));
        const len = m ? Number(m[1]) : 0;
        if (buf.length < end + 4 + len) return;
        answers.push({ status: Number(buf.slice(9, 12)), body: Buffer.from(buf.slice(end + 4, end + 4 + len), 'latin1').toString('utf8') });
        buf = buf.slice(end + 4 + len);
        wake?.();
      }
    });
    for (const parts of requests) {
      const want = answers.length + 1;
      for (const [i, part] of parts.entries()) {
        if (i > 0 && gapMs > 0) await sleep(gapMs);
        sock.write(Buffer.from(part, 'utf8'));
      }
      while (answers.length < want) await new Promise<void>((r) => (wake = r));
    }
    sock.destroy();
    return answers;
  }

  test('a body in the packet of its headers, a body sent after them, and one in pieces get the same completion', async () => {
    const b = body('héllo wörld, ünïcode split across writes');
    const bytes = Buffer.from(b, 'utf8');
    const whole = [head(bytes.length) + b];
    const later = [head(bytes.length), b];
    // Cut inside a multi-byte character: the pieces only make sense together.
    const cut = bytes.indexOf(0xc3) + 1;
    const pieces = [head(bytes.length), bytes.subarray(0, cut).toString('latin1'), bytes.subarray(cut).toString('latin1')];
    const answers = await exchange([whole], 0);
    const later1 = await exchange([later], 30);
    const raw = new Socket();
    await new Promise<void>((resolve) => raw.connect(port, '127.0.0.1', resolve));
    // The pieces go as raw bytes: latin1 round-trips them exactly.
    const got: Buffer[] = [];
    raw.on('data', (d: Buffer) => got.push(d));
    raw.write(pieces[0]!);
    await sleep(20);
    raw.write(Buffer.from(pieces[1]!, 'latin1'));
    await sleep(20);
    raw.write(Buffer.from(pieces[2]!, 'latin1'));
    while (!Buffer.concat(got).toString('utf8').includes('"usage"')) await sleep(10);
    raw.destroy();
    const piecesAnswer = Buffer.concat(got).toString('utf8');
    for (const a of [answers[0]!, later1[0]!]) {
      assert.equal(a.status, 200, a.body);
      const parsed = JSON.parse(a.body) as { object: string; usage: { prompt_tokens: number } };
      assert.equal(parsed.object, 'chat.completion');
      assert.ok(parsed.usage.prompt_tokens > 0);
    }
    assert.match(piecesAnswer, /^HTTP\/1\.1 200/);
    assert.match(piecesAnswer, /"object":"chat\.completion"/);
  });

  test('keep-alive: requests of both kinds in turn on one connection are each answered once', async () => {
    const b = body('again');
    const n = Buffer.byteLength(b);
    const answers = await exchange([[head(n) + b], [head(n), b], [head(n) + b], [head(n), b]], 15);
    assert.deepEqual(
      answers.map((a) => a.status),
      [200, 200, 200, 200],
    );
  });

  test('two requests pipelined in one write each get their own body', async () => {
    const a = body('first');
    const b = body('second, a little longer');
    const sock = new Socket();
    await new Promise<void>((resolve) => sock.connect(port, '127.0.0.1', resolve));
    let text = '';
    sock.on('data', (d: Buffer) => (text += d.toString('utf8')));
    sock.write(head(Buffer.byteLength(a)) + a + head(Buffer.byteLength(b)) + b);
    while ((text.match(/"object":"chat\.completion"/g) ?? []).length < 2) await sleep(10);
    sock.destroy();
    assert.equal((text.match(/HTTP\/1\.1 200 /g) ?? []).length, 2);
  });

  test('an empty body and invalid JSON are refused the same way by either path', async () => {
    const bad = '{"model":"m","messages":[';
    const answers = await exchange([[head(0)], [head(bad.length) + bad], [head(bad.length), bad]], 20);
    assert.deepEqual(
      answers.map((a) => a.status),
      [400, 400, 400],
    );
    assert.match(answers[0]!.body, /empty/);
    for (const a of answers.slice(1)) assert.match(a.body, /"code":"invalid_json"/);
  });

  test('a body over the limit is refused with 413 whether it arrived with its headers or after them', async () => {
    const big = body('x'.repeat(70 * 1024));
    const n = Buffer.byteLength(big);
    // Chunked, so the declared length cannot refuse it early: the body itself is over the limit.
    const chunked = (s: string) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n0\r\n\r\n`;
    const headChunked = 'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n';
    const answers = await exchange([[headChunked + chunked(big)], [headChunked, chunked(big)]], 20);
    assert.equal(n > 64 * 1024, true);
    assert.deepEqual(
      answers.map((a) => a.status),
      [413, 413],
    );
  });

  test('an upload that passes the limit gets its 413 then, not when it ends, and is cut off far past the limit', async () => {
    const LIMIT = 64 * 1000; // body_limit 64kb
    const piece = 'x'.repeat(16 * 1024);
    for (const framing of ['transfer-encoding: chunked', `content-length: ${100 * 1024 * 1024}`]) {
      const sock = new Socket();
      await new Promise<void>((resolve, reject) => sock.connect(port, '127.0.0.1', resolve).once('error', reject));
      let got = '';
      let closed = false;
      sock.setEncoding('latin1');
      sock.on('data', (d: string) => (got += d));
      sock.on('error', () => {}); // the cut-off resets the writes still in flight
      sock.on('close', () => (closed = true));
      sock.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${framing}\r\n\r\n`);
      const frame = framing.startsWith('transfer') ? `${piece.length.toString(16)}\r\n${piece}\r\n` : piece;
      let sent = 0;
      while (!got.includes('\r\n\r\n') && sent < 3 * LIMIT && !closed) {
        sock.write(frame);
        sent += piece.length;
        await sleep(5);
      }
      assert.match(got, /^HTTP\/1\.1 413 /, `${framing}: no answer after ${sent} bytes`);
      assert.match(got, /"code":"request_too_large"/);
      // The rest is read and dropped for a while (so a client that reads late still gets the answer), then cut off.
      while (!closed && sent < 40 * LIMIT) {
        if (!sock.write(frame)) await new Promise((r) => setTimeout(r, 20));
        sent += piece.length;
        await sleep(1);
      }
      assert.ok(closed, `${framing}: still reading after ${sent} bytes`);
      sock.destroy();
    }
  });
});
