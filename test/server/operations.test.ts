import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Agent, Client, request } from 'undici';
import { closeAll, eventually, startSims, startTestGateway } from '../helpers/harness.js';

const chat = (model: string) => JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });

/** A port nothing listens on: connections to it are refused. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('/readyz stays ready with one broken pool; /readyz?model= reports that model', async () => {
  const [sim] = await startSims(1);
  const gw = await startTestGateway([
    { name: 'good', backends: [{ url: sim!.url, model: 'sim-llama-8b' }] },
    { name: 'broken', backends: [{ url: `http://127.0.0.1:${await deadPort()}`, model: 'x' }], retries: 0 },
  ]);
  try {
    const failed = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chat('broken') });
    assert.ok(failed.status >= 500);
    const broken = await eventually(async () => {
      const r = await fetch(`${gw.url}/readyz?model=broken`);
      return r.status === 503 ? r : null;
    }, 15_000);
    assert.deepEqual(await broken!.json(), { status: 'not_ready', model: 'broken', healthy_backends: 0, backends: 1 });
    const ready = await fetch(`${gw.url}/readyz`);
    assert.equal(ready.status, 200, 'one broken model does not take the instance out of rotation');
    assert.deepEqual(await ready.json(), { status: 'ready' });
    const good = await fetch(`${gw.url}/readyz?model=good`);
    assert.equal(good.status, 200);
    assert.equal(((await good.json()) as { healthy_backends: number }).healthy_backends, 1);
    const unknown = await fetch(`${gw.url}/readyz?model=nope`);
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'model_not_found');
  } finally {
    await closeAll(gw, sim);
  }
});

test('every response carries x-request-id: models, admin, metrics, health, 404s', async () => {
  const [sim] = await startSims(1);
  const gw = await startTestGateway([{ name: 'good', backends: [{ url: sim!.url, model: 'sim-llama-8b' }] }]);
  try {
    for (const path of ['/v1/models', '/v1/models/good', '/v1/models/nope', '/admin/limits', '/admin/usage', '/metrics', '/healthz', '/readyz', '/nowhere']) {
      const res = await fetch(`${gw.url}${path}`);
      await res.arrayBuffer();
      assert.match(res.headers.get('x-request-id') ?? '', /^req_/, `${path} (${res.status})`);
    }
    const echoed = await fetch(`${gw.url}/healthz`, { headers: { 'x-request-id': 'caller-123' } });
    assert.equal(echoed.headers.get('x-request-id'), 'caller-123');
    const wrongMethod = await fetch(`${gw.url}/v1/chat/completions`, { method: 'GET' });
    assert.equal(wrongMethod.status, 405);
    assert.ok(wrongMethod.headers.get('x-request-id'));
  } finally {
    await closeAll(gw, sim);
  }
});

const slowChat = JSON.stringify({ model: 'good', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8, ignore_eos: true, sim_fault: { token_delay_ms: 8 } });

test('drain: keep-alive clients get every request answered and are told Connection: close', async () => {
  const [sim] = await startSims(1);
  const gw = await startTestGateway([{ name: 'good', backends: [{ url: sim!.url, model: 'sim-llama-8b' }] }]);
  const agent = new Agent({ connections: 6, keepAliveTimeout: 60_000 });
  const resets: string[] = [];
  const lastConnection: string[] = [];
  const sentWhileDraining: string[] = [];
  let answered = 0;
  let draining = false;
  const worker = async () => {
    let last = '';
    for (;;) {
      const duringDrain = draining;
      try {
        const res = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', body: slowChat, headers: { 'content-type': 'application/json' }, dispatcher: agent });
        await res.body.text();
        answered++;
        last = String(res.headers.connection);
        if (duringDrain) sentWhileDraining.push(last);
        if (res.statusCode === 503) break;
      } catch (err) {
        const code = (err as { cause?: { code?: string } }).cause?.code ?? (err as { code?: string }).code ?? String(err);
        // A new connection refused once the listener is closed carried no request: the clean end.
        if (code !== 'ECONNREFUSED') resets.push(code);
        break;
      }
    }
    lastConnection.push(last);
  };
  try {
    const workers = Array.from({ length: 6 }, worker);
    await eventually(() => answered >= 12, 20_000);
    const closing = gw.close(3000); // draining from here on (set synchronously)
    draining = true;
    await closing;
    await Promise.all(workers);
    assert.deepEqual(resets, [], 'no request was reset without an answer');
    assert.deepEqual(lastConnection, Array(6).fill('close'), 'every client was told to close before its connection went');
    assert.ok(sentWhileDraining.every((c) => c === 'close'));
  } finally {
    await agent.close();
    await sim!.close();
  }
});

test('drain: a request on a kept-alive connection gets 503 with Connection: close and leaves a usage row', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ig-drain-'));
  const [sim] = await startSims(1);
  const gw = await startTestGateway([{ name: 'good', backends: [{ url: sim!.url, model: 'sim-llama-8b' }] }], {
    sections: { usage: { sqlite: join(dir, 'usage.db'), flush_interval: '20ms' } },
  });
  const idle = new Client(gw.url, { keepAliveTimeout: 60_000 });
  try {
    const first = await idle.request({ path: '/v1/chat/completions', method: 'POST', body: chat('good'), headers: { 'content-type': 'application/json' } });
    await first.body.text();
    assert.equal(first.statusCode, 200);
    // A slow stream holds the drain open while the idle connection sends again.
    const slow = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'good', messages: [{ role: 'user', content: 'hi' }], stream: true, max_tokens: 30, ignore_eos: true, sim_fault: { token_delay_ms: 15 } }),
    });
    const closing = gw.close(5000);
    const refused = await idle.request({ path: '/v1/chat/completions', method: 'POST', body: chat('good'), headers: { 'content-type': 'application/json', 'x-request-id': 'late-1' } });
    const body = (await refused.body.json()) as { error: { code: string; type: string } };
    assert.equal(refused.statusCode, 503);
    assert.equal(body.error.code, 'shutting_down');
    assert.equal(refused.headers.connection, 'close');
    assert.equal(refused.headers['x-request-id'], 'late-1');
    await slow.text();
    await closing;
    const db = new Database(join(dir, 'usage.db'), { readonly: true });
    try {
      const row = db.prepare("SELECT status, error_code, endpoint FROM usage WHERE request_id = 'late-1'").get();
      assert.deepEqual(row, { status: 503, error_code: 'shutting_down', endpoint: 'chat' });
    } finally {
      db.close();
    }
  } finally {
    await idle.close();
    await sim!.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('drain: a request already sent on a kept-alive connection when the drain starts is answered, not reset', async () => {
  const [sim] = await startSims(1);
  const gw = await startTestGateway([{ name: 'good', backends: [{ url: sim!.url, model: 'sim-llama-8b' }] }]);
  const socket = connect(gw.port, '127.0.0.1');
  let received = '';
  let error = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (received += d));
  socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? String(err)));
  const ended = new Promise<void>((r) => socket.once('close', () => r()));
  const body = chat('good');
  const head = `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`;
  try {
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(head + body);
    await eventually(() => /"finish_reason"/.test(received), 10_000);
    // Nothing is in flight now. The next request leaves before the drain starts, in the same turn, so the gateway
    // has not read it yet: a drain that closes "idle" connections at once would reset it unanswered.
    socket.write(head + body);
    const closing = gw.close(3000);
    await ended;
    await closing;
    assert.equal(error, '', 'the connection was not reset');
    const answers = received.split('HTTP/1.1 ').slice(1);
    assert.equal(answers.length, 2, 'both requests were answered');
    assert.match(answers[1]!, /^(200|503) /);
    assert.match(answers[1]!, /\r\nconnection: close\r\n/i);
  } finally {
    socket.destroy();
    await sim!.close();
  }
});
