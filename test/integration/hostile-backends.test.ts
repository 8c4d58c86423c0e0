import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Gateway } from '../../src/server/index.js';
import { client, readSse, startTestGateway } from '../helpers/harness.js';
import { chunk, completion, sleep, SSE_HEAD, startScriptedBackend, type Script, type ScriptedBackend } from '../helpers/scripted-backend.js';

const open: Array<{ close(): Promise<void> }> = [];
after(async () => {
  await Promise.all(open.map((o) => o.close()));
});

async function setup(scripts: Script[], server: Record<string, unknown> = {}, model: Record<string, unknown> = {}, sections: Record<string, unknown> = {}) {
  const backends: ScriptedBackend[] = [];
  for (const s of scripts) backends.push(await startScriptedBackend(s));
  const gw: Gateway = await startTestGateway([{ name: 'm', backends: backends.map((b) => ({ url: b.url })), policy: 'round_robin', ...model }], {
    server,
    sections: { routing: { scrape: { interval: 0 }, health: { probe_interval: 0 } }, ...sections },
  });
  open.push({ close: () => gw.close(50) }, ...backends);
  return { gw, backends };
}

function post(gw: Gateway, body: unknown, path = '/v1/chat/completions'): Promise<Response> {
  return fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

const chatBody = (stream: boolean, extra: Record<string, unknown> = {}) => ({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream, ...extra });

/** Streams `n` chunks as fast as the socket takes them, honouring backpressure, then [DONE]. */
const floodScript =
  (n: number): Script =>
  async (_req, res) => {
    res.writeHead(200, SSE_HEAD);
    const piece = chunk('x'.repeat(200));
    for (let i = 0; i < n; i++) {
      if (!res.write(piece)) await new Promise((r) => res.once('drain', r));
      if (res.destroyed) return;
    }
    res.end('data: [DONE]\n\n');
  };

describe('slow clients are not broken backends', () => {
  test('a client that pauses longer than the idle timeout gets its whole stream, and the backend stays in rotation', async () => {
    const { gw } = await setup([floodScript(60_000)], { timeouts: { idle: '1s', first_byte: '5s' } }, { retries: 0 }, {
      routing: { scrape: { interval: 0 }, health: { probe_interval: 0, eject_after: 2 } },
    });
    const readers = await Promise.all(
      [0, 1, 2].map(
        () =>
          new Promise<IncomingMessage>((resolve, reject) => {
            const req = request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, resolve);
            req.on('error', reject);
            req.end(JSON.stringify(chatBody(true)));
          }),
      ),
    );
    for (const r of readers) r.pause();
    await sleep(3000); // three idle timeouts while the clients read nothing
    const texts = await Promise.all(
      readers.map(
        (r) =>
          new Promise<string>((resolve) => {
            let tail = '';
            r.on('data', (c: Buffer) => (tail = (tail + c.toString('latin1')).slice(-400)));
            r.on('end', () => resolve(tail));
            r.resume();
          }),
      ),
    );
    for (const t of texts) {
      assert.ok(t.trimEnd().endsWith('data: [DONE]'), `stream ended with: ${t.slice(-200)}`);
      assert.ok(!t.includes('"error"'));
    }
    // Three paused readers with eject_after 2: the only backend must still serve.
    const res = await post(gw, chatBody(false));
    assert.notEqual(res.status, 503);
  });
});

describe('each phase has its own deadline, named in the error', () => {
  test('a stream that stalls before its first token ends at first_byte, saying so', async () => {
    const { gw } = await setup([async (_q, res) => void res.writeHead(200, SSE_HEAD).flushHeaders()], { timeouts: { first_byte: '300ms', idle: '5s' } }, { retries: 0 });
    const events = await readSse(await post(gw, chatBody(true)));
    const err = JSON.parse(events.at(-1)!).error;
    assert.equal(err.code, 'upstream_timeout');
    assert.match(err.message, /server\.timeouts\.first_byte/);
  });

  test('a stream that stalls mid-way ends at idle, not at the first-byte deadline', async () => {
    const { gw } = await setup(
      [
        async (_q, res) => {
          res.writeHead(200, SSE_HEAD);
          res.write(chunk('a'));
        },
      ],
      { timeouts: { first_byte: '20s', idle: '300ms' } },
      { retries: 0 },
    );
    const started = Date.now();
    const events = await readSse(await post(gw, chatBody(true)));
    const err = JSON.parse(events.at(-1)!).error;
    assert.equal(err.code, 'upstream_timeout');
    assert.match(err.message, /server\.timeouts\.idle/);
    assert.ok(Date.now() - started < 15_000, 'ended by the idle deadline, long before first_byte');
  });

  test('a non-streamed request is bounded by timeouts.request, which does not limit streams', async () => {
    const { gw } = await setup(
      [
        async (_q, res, body) => {
          if (body.stream) {
            res.writeHead(200, SSE_HEAD);
            for (let i = 0; i < 8; i++) {
              res.write(chunk(String(i)));
              await sleep(100);
            }
            res.end('data: [DONE]\n\n');
            return;
          }
          await sleep(2000);
          if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end(completion('late'));
        },
      ],
      { timeouts: { request: '300ms', first_byte: '5s', idle: '5s', total: '30s' } },
      { retries: 0 },
    );
    const res = await post(gw, chatBody(false));
    assert.equal(res.status, 504);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'upstream_timeout');
    assert.match(body.error.message, /timeouts\.request/);
    const events = await readSse(await post(gw, chatBody(true)));
    assert.equal(events.at(-1), '[DONE]', 'an 800 ms stream outlives a 300 ms request timeout');
  });
});

describe('one bad backend cannot hurt everyone', () => {
  test('an endless SSE line is cut at max_event_size in linear time, with an error event', async () => {
    const { gw } = await setup(
      [
        async (_q, res) => {
          res.writeHead(200, SSE_HEAD);
          res.write(chunk('first'));
          const piece = Buffer.alloc(64 * 1024, 0x61);
          res.write('data: ');
          for (let sent = 0; sent < 100 * 1024 * 1024 && !res.destroyed; sent += piece.length) {
            if (!res.write(piece)) await new Promise((r) => res.once('drain', r));
          }
          res.end();
        },
      ],
      { max_event_size: '2MiB' },
      { retries: 0 },
    );
    const h = monitorEventLoopDelay({ resolution: 10 });
    h.enable();
    const rss = process.memoryUsage().rss;
    const events = await readSse(await post(gw, chatBody(true)));
    h.disable();
    const err = JSON.parse(events.at(-1)!).error;
    assert.equal(err.code, 'upstream_event_too_large');
    assert.ok(h.max / 1e6 < 500, `event loop blocked for ${h.max / 1e6} ms`);
    assert.ok(process.memoryUsage().rss - rss < 150 * 1024 * 1024, 'memory bounded');
    assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
  });

  test('a non-streamed body past response_limit is a 502, without buffering it all', async () => {
    const { gw } = await setup(
      [
        async (_q, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"id":"x","choices":[{"message":{"content":"');
          const piece = Buffer.alloc(64 * 1024, 0x61);
          for (let sent = 0; sent < 100 * 1024 * 1024 && !res.destroyed; sent += piece.length) {
            if (!res.write(piece)) await new Promise((r) => res.once('drain', r));
          }
          res.end('"}}]}');
        },
      ],
      { response_limit: '1MiB' },
      { retries: 0 },
    );
    const rss = process.memoryUsage().rss;
    const res = await post(gw, chatBody(false));
    assert.equal(res.status, 502);
    const body = (await res.json()) as { error: { code: string; type: string } };
    assert.equal(body.error.code, 'upstream_response_too_large');
    assert.equal(body.error.type, 'server_error');
    assert.ok(process.memoryUsage().rss - rss < 64 * 1024 * 1024, 'memory bounded');
  });

  test('media types are compared without regard to case: Text/Event-Stream is a stream, Application/JSON is JSON', async () => {
    const { gw } = await setup([
      (_q, res, body) => {
        if (body.stream === true) {
          res.writeHead(200, { 'content-type': 'Text/Event-Stream; Charset=UTF-8' });
          res.end(chunk('mixed case') + 'data: [DONE]\n\n');
        } else {
          res.writeHead(200, { 'content-type': 'Application/JSON' });
          res.end(completion('mixed case'));
        }
      },
    ], {}, { retries: 0 });
    const streamed = await post(gw, chatBody(true));
    assert.equal(streamed.status, 200);
    assert.match(await streamed.text(), /mixed case[\s\S]*data: \[DONE\]/);
    const plain = await post(gw, chatBody(false));
    assert.equal(plain.status, 200);
    assert.match(await plain.text(), /mixed case/);
  });

  test('a non-streamed answer reaches the client byte for byte: multibyte UTF-8, invalid sequences, small and large', async () => {
    const answer = (filler: Buffer) =>
      Buffer.concat([
        Buffer.from('{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"héllo 世界 🎉 '),
        filler,
        Buffer.from([0xff, 0xfe, 0xc3]), // not UTF-8: relayed as sent, never re-encoded
        Buffer.from('"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}'),
      ]);
    const small = answer(Buffer.from('ü'));
    const large = answer(Buffer.alloc(200 * 1024, 'ä'));
    let next = small;
    const { gw } = await setup([
      (_q, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(next);
      },
    ]);
    for (const body of [small, large]) {
      next = body;
      const res = await post(gw, chatBody(false));
      assert.equal(res.status, 200);
      const got = Buffer.from(await res.arrayBuffer());
      assert.equal(Number(res.headers.get('content-length')), body.length);
      assert.ok(got.equals(body), `${body.length} bytes changed on the way`);
    }
  });

  test('a body sent after its head, in pieces, is relayed whole; one that turns out not to be JSON is a 502', async () => {
    const text = completion('piece by piece', 'eos');
    const cut = text.indexOf('piece by');
    let calls = 0;
    const { gw } = await setup(
      [
        async (_q, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.flushHeaders();
          await sleep(30);
          if (calls++ > 0) return void res.end('{"id":"x","choices":[');
          res.write(text.slice(0, cut));
          await sleep(30);
          res.end(text.slice(cut));
        },
      ],
      {},
      { retries: 0 },
    );
    const ok = await client(gw).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(ok.choices[0]!.message.content, 'piece by piece');
    // The engine's own reason is rewritten to OpenAI's on a body read late as on one read with its head.
    assert.equal(ok.choices[0]!.finish_reason, 'stop');
    assert.equal(ok.usage?.prompt_tokens, 5);
    const err = await client(gw).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    assert.equal((err as { status?: number }).status, 502);
    assert.equal((err as { code?: string }).code, 'upstream_invalid_response');
  });

  test('a 200 whose body is not JSON is a 502 that counts against the backend', async () => {
    const { gw } = await setup([async (_q, res) => void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>proxy error</html>')], {}, { retries: 0 }, {
      routing: { scrape: { interval: 0 }, health: { probe_interval: 0, eject_after: 1 } },
    });
    const err = await client(gw).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    assert.equal((err as { status?: number }).status, 502);
    assert.equal((err as { code?: string }).code, 'upstream_invalid_response');
    // Counted as the backend's failure: with eject_after 1 it is out of rotation.
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(metrics, /infergate_backend_healthy\{[^}]*\} 0/);
  });
});

describe('OpenAI fidelity', () => {
  test("an engine's error class never reaches the client as the type; the message does", async () => {
    const { gw } = await setup([
      async (_q, res) =>
        void res
          .writeHead(400, { 'content-type': 'application/json' })
          .end(JSON.stringify({ object: 'error', message: 'max_tokens is too large', type: 'BadRequestError', param: null, code: 400 })),
    ]);
    const err = (await client(gw).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as {
      status: number;
      type: string;
      message: string;
    };
    assert.equal(err.status, 400);
    assert.equal(err.type, 'invalid_request_error');
    assert.match(err.message, /max_tokens is too large/);
  });

  test("a 429's retry-after and retry-after-ms reach the client, with OpenAI's type", async () => {
    const { gw } = await setup(
      [
        async (_q, res) =>
          void res
            .writeHead(429, { 'content-type': 'application/json', 'retry-after': '7', 'retry-after-ms': '7000' })
            .end(JSON.stringify({ object: 'error', message: 'busy', type: 'TooManyRequestsError', code: 429 })),
      ],
      {},
      { retries: 0 },
    );
    const res = await post(gw, chatBody(false));
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('retry-after'), '7');
    assert.equal(res.headers.get('retry-after-ms'), '7000');
    assert.equal(((await res.json()) as { error: { type: string } }).error.type, 'rate_limit_error');
  });

  for (const [name, event] of [
    ['vLLM', { error: { object: 'error', message: 'engine died', type: 'InternalServerError', param: null, code: 500 } }],
    ['TGI', { error: 'Request failed during generation: CUDA OOM', error_type: 'generation' }],
  ] as const) {
    test(`a ${name} error event mid-stream becomes one envelope event, and the stream ends`, async () => {
      const { gw } = await setup([
        async (_q, res) => {
          res.writeHead(200, SSE_HEAD);
          res.write(chunk('a') + chunk('b'));
          res.write(`data:${JSON.stringify(event)}\n\n`);
          res.end(chunk('after the error') + 'data: [DONE]\n\n');
        },
      ]);
      const events = await readSse(await post(gw, chatBody(true)));
      const last = JSON.parse(events.at(-1)!);
      assert.deepEqual(Object.keys(last.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(last.error.type, 'server_error');
      assert.equal(typeof last.error.code, 'string');
      assert.equal(last.error.param, null);
      assert.ok(!events.some((e) => e.includes('after the error')));
    });
  }

  test('finish_reason values outside OpenAI\'s set are mapped, streamed and not, keeping the native one', async () => {
    const { gw } = await setup([
      async (_q, res, body) => {
        if (body.stream) {
          res.writeHead(200, SSE_HEAD);
          res.end(chunk('a') + chunk('', 'abort') + 'data: [DONE]\n\n');
        } else res.writeHead(200, { 'content-type': 'application/json' }).end(completion('a', 'eos_token'));
      },
    ]);
    const r = await client(gw).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(r.choices[0]!.finish_reason, 'stop');
    assert.equal((r.choices[0] as unknown as { native_finish_reason: string }).native_finish_reason, 'eos_token');
    const stream = await client(gw).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true });
    const reasons: unknown[] = [];
    for await (const c of stream) if (c.choices[0]?.finish_reason) reasons.push(c.choices[0].finish_reason);
    assert.deepEqual(reasons, ['stop']);
  });

  test('embeddings asked as base64 are converted when a base64-capable backend answers floats', async () => {
    const vec = [0.5, -1.25, 3];
    const { gw } = await setup([
      async (_q, res) =>
        void res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ object: 'list', model: 'm', data: [{ object: 'embedding', index: 0, embedding: vec }], usage: { prompt_tokens: 2, total_tokens: 2 } })),
    ]);
    const r = await client(gw).embeddings.create({ model: 'm', input: 'x' }); // the SDK asks for base64 by default
    assert.deepEqual(r.data[0]!.embedding, vec);
  });

  test('stream headers go out when the backend accepts, heartbeats keep the line alive, and the first token comes later', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { gw } = await setup([
      async (_q, res) => {
        res.writeHead(200, SSE_HEAD);
        res.flushHeaders();
        await gate;
        res.end(chunk('late token') + 'data: [DONE]\n\n');
      },
    ], { stream_heartbeat: '100ms' });
    const res = await post(gw, chatBody(true)); // resolves on the response head, while the backend holds its token
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    await sleep(350);
    release();
    const text = await res.text();
    assert.match(text, /^: keep-alive\n\n/);
    assert.match(text, /late token/);
  });

  test('a backend that accepts a stream and then stalls is retried invisibly before the first token', async () => {
    let calls = 0;
    const script: Script = async (_q, res) => {
      res.writeHead(200, SSE_HEAD).flushHeaders();
      if (calls++ === 0) return; // the first attempt, wherever it lands, accepts and stalls
      res.end(chunk('from the second') + 'data: [DONE]\n\n');
    };
    const { gw, backends } = await setup(
      [script, script],
      { timeouts: { first_byte: '300ms' } },
      { retries: 1 },
    );
    const stream = await client(gw).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    assert.equal(text, 'from the second');
    assert.equal(backends[0]!.hits + backends[1]!.hits, 2);
  });
});
