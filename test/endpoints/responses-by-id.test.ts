import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { client } from '../helpers/harness.js';
import { startGovernedGateway, type GovernedGateway } from './helpers.js';

interface Seen {
  method: string;
  url: string;
}

/**
 * An engine that serves the whole stored-response API as OpenAI does (create, retrieve with its query, streamed
 * retrieve, delete, input items), recording what it was asked; the gateway must reach each call through to it.
 */
function startStoringBackend(): Promise<{ server: Server; url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const stored = new Set<string>();
  let created = 0;
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '' });
    req.resume();
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const m = /^\/v1\/responses\/([^/]+)(\/input_items)?$/.exec(url.pathname);
      if (req.method === 'POST' && url.pathname === '/v1/responses') {
        const id = `resp_${++created}`;
        stored.add(id);
        return json(res, 200, { id, object: 'response', created_at: 1, status: 'completed', model: 'm', store: true, output: [], usage: { input_tokens: 3, output_tokens: 2, total_tokens: 5 } });
      }
      if (!m || !stored.has(m[1]!)) return json(res, 404, { error: { message: 'not found', type: 'invalid_request_error', code: null, param: null } });
      const id = m[1]!;
      if (req.method === 'DELETE') {
        stored.delete(id);
        return json(res, 200, { id, object: 'response.deleted', deleted: true });
      }
      if (m[2]) return json(res, 200, { object: 'list', data: [{ id: 'msg_1', type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], first_id: 'msg_1', last_id: 'msg_1', has_more: false });
      if (url.searchParams.get('stream') === 'true') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const response = { id, object: 'response', created_at: 1, status: 'completed', model: 'm', output: [], usage: { input_tokens: 3, output_tokens: 2, total_tokens: 5 } };
        res.end(`event: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', sequence_number: 0, response })}\n\n`);
        return;
      }
      return json(res, 200, { id, object: 'response', created_at: 1, status: 'completed', model: 'm', output: [] });
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen })));
}

describe('stored responses: every call the SDK makes by id reaches the backend that stored it', () => {
  let backend: Awaited<ReturnType<typeof startStoringBackend>>;
  let g: GovernedGateway;
  let sdk: OpenAI;

  before(async () => {
    backend = await startStoringBackend();
    g = await startGovernedGateway([{ name: 'm', backends: [{ url: backend.url, kind: 'openai' }] }]);
    sdk = client(g.gw, { apiKey: await g.token('models:*') });
  });
  after(async () => {
    await g.close();
    await new Promise((r) => backend.server.close(r));
  });

  test('retrieve (with its query), input_items, a streamed retrieve and delete', async () => {
    const created = await sdk.responses.create({ model: 'm', input: 'hi', store: true });
    const got = await sdk.responses.retrieve(created.id, { include: ['message.output_text.logprobs'] });
    assert.equal(got.id, created.id);
    assert.match(backend.seen.at(-1)!.url, /include/, 'the query reaches the backend');

    const items = await sdk.responses.inputItems.list(created.id);
    assert.equal(items.data[0]!.id, 'msg_1');

    const stream = await sdk.responses.retrieve(created.id, { stream: true });
    const types: string[] = [];
    for await (const ev of stream) types.push(ev.type);
    assert.deepEqual(types, ['response.completed']);

    await sdk.responses.delete(created.id);
    assert.deepEqual(backend.seen.at(-1), { method: 'DELETE', url: `/v1/responses/${created.id}` });
    // Forgotten: the gateway no longer knows where it lives.
    await assert.rejects(sdk.responses.retrieve(created.id), OpenAI.NotFoundError);
  });

  test("another caller's response is unknown to every call; counting input tokens is a clear 404", async () => {
    const created = await sdk.responses.create({ model: 'm', input: 'mine', store: true });
    const other = client(g.gw, { apiKey: await g.token('models:*', 'mallory') });
    await assert.rejects(other.responses.delete(created.id), OpenAI.NotFoundError);
    await assert.rejects(other.responses.inputItems.list(created.id), OpenAI.NotFoundError);
    assert.ok(!backend.seen.some((s) => s.method === 'DELETE' && s.url.endsWith(created.id)), 'never reached the backend');
    const count = await fetch(`${g.gw.url}/v1/responses/input_tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await g.token('models:*')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', input: 'hi' }),
    });
    assert.equal(count.status, 404);
    assert.equal(((await count.json()) as { error: { code: string } }).error.code, 'unknown_url');
  });
});
