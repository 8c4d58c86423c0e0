import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import type { RequestCtx } from '../../src/core/index.js';
import type { Gateway } from '../../src/server/index.js';
import { client, eventually, startTestGateway } from '../helpers/harness.js';
import { chunk, completion, sleep, SSE_HEAD, startScriptedBackend, type ScriptedBackend } from '../helpers/scripted-backend.js';

const USAGE_CHUNK = `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 } })}\n\n`;

/**
 * Backends that compress their answers although the gateway asks for identity (a proxy in front of an engine that
 * compresses regardless). The client gets the body decoded, under the gateway's own uncompressed head, and its usage
 * counted; a coding the gateway cannot decode is the backend's failure, tried elsewhere. A UTF-8 BOM before a JSON
 * body (some proxies and .NET servers write one) is dropped, as RFC 8259 lets a parser do.
 */
describe('backend answers compressed, or behind a byte order mark', () => {
  let first: ScriptedBackend;
  let second: ScriptedBackend;
  let gw: Gateway;
  const ended: RequestCtx[] = [];
  const lastCtx = () => eventually(() => ended.at(-1));
  const seen: Array<string | undefined> = [];

  before(async () => {
    first = await startScriptedBackend((_req, res) => void res.end());
    second = await startScriptedBackend((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(completion('from the second')));
    gw = await startTestGateway(
      [
        { name: 'one', backends: [{ url: first.url }], retries: 0 },
        { name: 'two', backends: [{ url: first.url }, { url: second.url }], policy: 'round_robin', retries: 1 },
      ],
      {
        server: { response_limit: '1MiB' },
        sections: { routing: { scrape: { interval: 0 }, health: { probe_interval: 0 } } },
        onRequestEnd: (ctx: RequestCtx) => void ended.push(ctx),
      },
    );
  });
  after(async () => {
    await gw.close(50);
    await Promise.all([first.close(), second.close()]);
  });

  test('a gzip JSON answer reaches the SDK decoded, with its usage believed, and identity was asked for', async () => {
    first.setScript((req, res) => {
      seen.push(req.headers['accept-encoding']);
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gzipSync(completion('hello there')));
    });
    ended.length = 0;
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'one', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-encoding'), null);
    const body = (await res.json()) as { choices: Array<{ message: { content: string } }> };
    assert.equal(body.choices[0]!.message.content, 'hello there');
    assert.deepEqual(seen, ['identity']);
    const ctx = await lastCtx();
    assert.equal(ctx!.usage?.source, 'backend');
    assert.equal(ctx!.usage?.completionTokens, 2);
  });

  test('a brotli stream, its bytes split across writes, is relayed decoded and its usage chunk counted', async () => {
    first.setScript(async (_req, res) => {
      res.writeHead(200, { ...SSE_HEAD, 'content-encoding': 'br' });
      const packed = brotliCompressSync(chunk('Hel') + chunk('lo', 'stop') + USAGE_CHUNK + 'data: [DONE]\n\n');
      for (let i = 0; i < packed.length; i += 7) {
        res.write(packed.subarray(i, i + 7));
        await sleep(1);
      }
      res.end();
    });
    ended.length = 0;
    const stream = await client(gw).chat.completions.create({ model: 'one', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    assert.equal(text, 'Hello');
    const ctx = await lastCtx();
    assert.equal(ctx!.outcome, 'success');
    assert.deepEqual([ctx!.usage?.source, ctx!.usage?.promptTokens, ctx!.usage?.completionTokens], ['backend', 9, 3]);
  });

  test("a compressed error body reaches the SDK with the backend's message", async () => {
    first.setScript((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(gzipSync(JSON.stringify({ object: 'error', message: 'temperature must be non-negative', type: 'BadRequestError', code: 400 })));
    });
    await assert.rejects(client(gw).chat.completions.create({ model: 'one', messages: [{ role: 'user', content: 'hi' }] }), (err: Error & { status?: number }) => {
      assert.equal(err.status, 400);
      assert.match(err.message, /temperature must be non-negative/);
      return true;
    });
  });

  test('a body that does not decode, or a coding the gateway does not know, is a 502 tried on another backend', async () => {
    for (const [coding, body] of [
      ['gzip', completion('not compressed at all')],
      ['compress', completion('LZW')],
    ] as const) {
      first.setScript((_req, res) => void res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': coding }).end(body));
      const only = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'one', messages: [{ role: 'user', content: 'hi' }] }) });
      assert.equal(only.status, 502, coding);
      const err = ((await only.json()) as { error: { code: string; message: string } }).error;
      assert.equal(err.code, 'upstream_invalid_response');
      assert.match(err.message, coding === 'gzip' ? /gzip body that does not decode/ : /Content-Encoding: compress/);
      const served = await client(gw).chat.completions.create({ model: 'two', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(served.choices[0]!.message.content, 'from the second');
    }
  });

  test('a JSON answer behind a UTF-8 byte order mark is served without the mark, its usage believed', async () => {
    first.setScript((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(`\ufeff${completion('marked')}`));
    ended.length = 0;
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'one', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(res.status, 200);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(bytes[0], 0x7b, 'the body starts with its JSON text');
    assert.equal((JSON.parse(bytes.toString('utf8')) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content, 'marked');
    assert.equal((await lastCtx())!.usage?.source, 'backend');
  });

  test('a small gzip that inflates past response_limit is cut there: a 502, never held whole', async () => {
    const bomb = gzipSync(Buffer.concat([Buffer.from('{"pad":"'), Buffer.alloc(64 * 1024 * 1024, 0x61), Buffer.from('"}')]));
    assert.ok(bomb.length < 256 * 1024);
    first.setScript((_req, res) => void res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(bomb));
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'one', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(res.status, 502);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'upstream_response_too_large');
  });
});
