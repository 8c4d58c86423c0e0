// The upstream attempt is an undici dispatch handler on the interface undici 7's core calls itself (attempt.ts says
// why). These run it against a real server through a real Pool: if an undici upgrade stopped calling that interface,
// every case here would fail or hang (the test's own timeout), not only the hot path's speed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { BackendPools } from '../../src/upstream/pools.js';
import { openAttempt, type AttemptSpec, type ClientLink, type OpenAttempt } from '../../src/upstream/index.js';

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ origin: string; server: Server }> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function spec(origin: string, client: ClientLink = { gone: false, shutdown: false, onGone: null }, overrides: Partial<AttemptSpec> = {}): AttemptSpec {
  const now = () => performance.now();
  return {
    backend: { id: 'b1', label: 'b1', origin, authorization: null },
    path: '/v1/chat/completions',
    body: Buffer.from('{}'),
    stream: false,
    deadlines: { firstByteMs: 5_000, idleMs: 5_000, endMs: now() + 10_000, endName: 'total', endLimitMs: 10_000 },
    headers: {},
    now,
    client,
    ...overrides,
  };
}

function drain(open: OpenAttempt): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    open.consume({ data: (c) => parts.push(c), end: () => resolve(Buffer.concat(parts)), error: (f) => reject(f) });
  });
}

test('status, Content-Type in any case, and the other headers parsed on demand', async () => {
  const { origin, server } = await serve((_req, res) => {
    res.writeHead(201, [['Content-Type', 'application/json; charset=utf-8'], ['X-Engine', 'vllm'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']].flat() as never);
    res.end('{"ok":true}');
  });
  const pools = new BackendPools({ connections: 2, connectTimeoutMs: 1_000 });
  try {
    const open = await openAttempt(pools, spec(origin));
    assert.equal(open.status, 201);
    assert.equal(open.contentType, 'application/json; charset=utf-8');
    assert.equal(open.headers['x-engine'], 'vllm');
    assert.deepEqual(open.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal((await drain(open)).toString(), '{"ok":true}');
  } finally {
    pools.destroy();
    server.close();
  }
});

test('a response without Content-Type has none, and an error status is the caller\'s error with the backend\'s words', async () => {
  const { origin, server } = await serve((req, res) => {
    if (req.url === '/none') {
      res.removeHeader('content-type');
      res.end('{}');
      return;
    }
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"bad temperature","type":"invalid_request_error"}}');
  });
  const pools = new BackendPools({ connections: 2, connectTimeoutMs: 1_000 });
  try {
    const open = await openAttempt(pools, spec(origin, undefined, { path: '/none' }));
    assert.equal(open.contentType, undefined);
    await drain(open);
    await assert.rejects(openAttempt(pools, spec(origin)), (err: Error) => /bad temperature/.test(err.message));
  } finally {
    pools.destroy();
    server.close();
  }
});

test('backpressure: a paused attempt stops reading the backend until resumed, and every byte arrives', async () => {
  const total = 8 * 1024 * 1024;
  let written = 0;
  let writerBlocked = false;
  const { origin, server } = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const pump = () => {
      while (written < total) {
        written += chunk.length;
        if (!res.write(chunk)) {
          writerBlocked = true;
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  const pools = new BackendPools({ connections: 1, connectTimeoutMs: 1_000 });
  try {
    const open = await openAttempt(pools, spec(origin));
    let received = 0;
    let pausedOnce = false;
    const done = new Promise<void>((resolve, reject) => {
      open.consume({
        data: (c) => {
          received += c.length;
          if (!pausedOnce) {
            pausedOnce = true;
            open.pause();
          }
        },
        end: resolve,
        error: reject,
      });
    });
    // Paused after the first chunk: the backend's writes must back up while nothing reads its socket.
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(received < total, 'the body kept flowing while paused');
    assert.ok(writerBlocked, 'the backend never saw backpressure');
    open.resume();
    await done;
    assert.equal(received, total);
  } finally {
    pools.destroy();
    server.close();
  }
});

test('a client gone before the backend answers aborts the attempt', async () => {
  const { origin, server } = await serve(() => {
    /* never answers */
  });
  const pools = new BackendPools({ connections: 1, connectTimeoutMs: 1_000 });
  const client: ClientLink = { gone: false, shutdown: false, onGone: null };
  try {
    const head = openAttempt(pools, spec(origin, client));
    await new Promise((r) => setTimeout(r, 50));
    client.gone = true;
    client.onGone?.();
    await assert.rejects(head, (err: Error & { kind?: string }) => err.kind === 'aborted');
  } finally {
    pools.destroy();
    server.closeAllConnections();
    server.close();
  }
});
