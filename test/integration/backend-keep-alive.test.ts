import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Gateway } from '../../src/server/index.js';
import { startTestGateway } from '../helpers/harness.js';
import { completion, sleep } from '../helpers/scripted-backend.js';

/**
 * A backend that closes keep-alive connections idle for 5 s and says nothing about it (no `Keep-Alive: timeout=`
 * header), as uvicorn does in front of vLLM and SGLang. A request written onto such a socket as the backend closes it
 * is reset before any answer: a 502 for a model with one backend.
 */
async function uvicornLike(idleCloseMs: number): Promise<{ url: string; connections: () => number; close(): Promise<void> }> {
  let connections = 0;
  const body = completion('ok');
  const server = net.createServer((sock) => {
    connections++;
    let buf = '';
    let idle: NodeJS.Timeout | null = null;
    sock.on('error', () => {});
    sock.on('close', () => idle && clearTimeout(idle));
    sock.on('data', (d) => {
      if (idle) clearTimeout(idle);
      buf += d.toString('latin1');
      for (;;) {
        const headEnd = buf.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const length = Number(/content-length: *(\d+)/i.exec(buf.slice(0, headEnd))?.[1] ?? 0);
        if (buf.length < headEnd + 4 + length) return;
        buf = buf.slice(headEnd + 4 + length);
        sock.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
        idle = setTimeout(() => sock.destroy(), idleCloseMs);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('keep-alive connections to backends', () => {
  const open: Array<{ close(): Promise<void> }> = [];
  after(() => Promise.all(open.map((o) => o.close())));

  test("an idle connection is given up before uvicorn's 5 s keep-alive closes it, so no request lands on a closing socket", async () => {
    const be = await uvicornLike(5000);
    const gw: Gateway = await startTestGateway([{ name: 'm', backends: [{ url: be.url }], retries: 0 }], {
      sections: { routing: { scrape: { interval: 0 }, health: { probe_interval: 0 } } },
    });
    open.push({ close: () => gw.close(50) }, be);
    const ask = () => fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal((await ask()).status, 200);
    assert.equal(be.connections(), 1);
    // Idle for 4.5 s: inside the backend's 5 s, so the old socket still works, but a gateway that keeps it until the
    // backend closes it races that close on every request arriving near the 5 s mark.
    await sleep(4500);
    assert.equal((await ask()).status, 200);
    assert.equal(be.connections(), 2, 'the second request went out on a fresh connection');
  });
});
