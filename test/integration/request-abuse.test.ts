import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { client, startSims, startTestGateway } from '../helpers/harness.js';
import { startIdp, type TestIdp } from '../helpers/idp.js';

/** What any caller can send before a limit has a chance to refuse it: every case is a clear 400 with bounded work. */
describe('request bodies built to hurt the gateway', () => {
  let sims: SimServer[];
  let idp: TestIdp;
  let gw: Gateway;
  let dir: string;
  let token: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'infergate-abuse-'));
    sims = [...(await startSims(1)), ...(await startSims(1, { personality: 'sglang' }))];
    idp = await startIdp();
    gw = await startTestGateway(
      [
        { name: 'cheap', backends: [{ url: 'http://127.0.0.1:1' }], retries: 0, fallback: ['secret-model'] },
        { name: 'open', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] },
        { name: 'secret-model', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] },
        { name: 'translated', backends: [{ url: sims[1]!.url, kind: 'sglang', model: 'sim-llama-8b' }] },
      ],
      {
        sections: {
          auth: { issuers: [{ issuer: idp.issuer, audience: 'infergate', jwks_url: idp.jwksUrl, algorithms: ['RS256'] }] },
          usage: { sqlite: join(dir, 'usage.db'), flush_interval: '20ms' },
        },
      },
    );
    token = await idp.issueToken({ sub: 'mallory', scope: 'models:cheap models:open models:translated' });
  });
  after(async () => {
    await gw.close(100);
    await Promise.all(sims.map((s) => s.close()));
    await idp.close();
    await rm(dir, { recursive: true, force: true });
  });

  const send = (body: unknown, path = '/v1/chat/completions') =>
    fetch(`${gw.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  test('a fallback the caller may not use never answers for it', async () => {
    const err = (await client(gw, { apiKey: token })
      .chat.completions.create({ model: 'cheap', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e)) as { status?: number };
    assert.ok(err.status === 502 || err.status === 503, `cheap is down and its fallback is not the caller's: got ${err.status}`);
    assert.equal(sims[0]!.log.entries.filter((e) => e.path.endsWith('/chat/completions')).length, 0, 'secret-model was never called');
    const allowed = await idp.issueToken({ sub: 'trusted', scope: 'models:cheap models:secret-model' });
    const ok = await client(gw, { apiKey: allowed }).chat.completions.create({ model: 'cheap', messages: [{ role: 'user', content: 'hi' }] });
    assert.ok(ok.choices[0]?.message.content, 'a caller who may use the fallback is served by it');
  });

  test('huge model names are refused with a short 400 before anything is stored', async () => {
    const db = join(dir, 'usage.db');
    const before = (await stat(db)).size;
    const rss = process.memoryUsage().rss;
    for (let i = 0; i < 20; i++) {
      const res = await send({ model: `${i}`.padEnd(2 * 1024 * 1024, 'x'), messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(res.status, 400);
      const text = await res.text();
      assert.ok(text.length < 1000, `the answer does not echo the name (${text.length} bytes)`);
      assert.equal(JSON.parse(text).error.param, 'model');
    }
    await new Promise((r) => setTimeout(r, 200));
    assert.ok((await stat(db)).size - before < 4 * 1024 * 1024, 'the usage log did not store the names');
    assert.ok(process.memoryUsage().rss - rss < 200 * 1024 * 1024, 'memory bounded');
  });

  test('wrong types say what was expected and what came', async () => {
    const m = (await (await send({ model: 123, messages: [{ role: 'user', content: 'hi' }] })).json()) as { error: { message: string; param: string } };
    assert.equal(m.error.param, 'model');
    assert.match(m.error.message, /expected a string, but got an integer/);
    const s = (await (await send({ model: 'open', messages: [{ role: 'user', content: 'hi' }], stream: 'yes' })).json()) as { error: { message: string } };
    assert.match(s.error.message, /'stream': expected a boolean, but got a string/);
    // JSON.parse reads 1e309 as Infinity: not "expected a number, but got a number".
    const big = (await (await send('{"model":"open","messages":[{"role":"user","content":"hi"}],"max_tokens":1e309}')).json()) as { error: { message: string; param: string } };
    assert.equal(big.error.param, 'max_tokens');
    assert.match(big.error.message, /got a number out of range/);
  });

  test('deeply nested tools are a 400, not a stack overflow', async () => {
    const deep = `${'{"a":'.repeat(300)}1${'}'.repeat(300)}`;
    const res = await send(`{"model":"open","messages":[{"role":"user","content":"hi"}],"tools":[${deep}]}`);
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { param: string } }).error.param, 'tools');
  });

  test('half a million messages are refused after one length check, costing little more CPU than parsing them', async () => {
    // 60,000 messages: past max_messages, within max_json_nodes (three nodes each), so the length check is what refuses.
    const body = JSON.stringify({ model: 'open', messages: Array.from({ length: 60_000 }, () => ({ role: 'user', content: 'hi' })) });
    // The floor is parsing the JSON itself; measure it here, in CPU time (what a loaded machine does not inflate the
    // way it inflates wall-clock delays), on the same machine.
    const cpuMs = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    const c0 = cpuMs();
    JSON.parse(body);
    const parseCpu = cpuMs() - c0;
    const h = monitorEventLoopDelay({ resolution: 10 });
    h.enable();
    const c1 = cpuMs();
    const res = await send(body);
    const requestCpu = cpuMs() - c1;
    h.disable();
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'too_many_messages');
    // Validating and counting 450k messages took ~0.8 s of CPU on top of the parse before they were bounded.
    assert.ok(requestCpu < 3 * parseCpu + 300, `the request cost ${requestCpu.toFixed(0)} ms of CPU (a parse alone: ${parseCpu.toFixed(0)} ms; loop delay max ${(h.max / 1e6).toFixed(0)} ms)`);
  });

  test('a body of millions of tiny values is refused before JSON.parse builds them', async () => {
    // 4.5 MB of `{},`: 1.5 million objects. Parsed, such a body (15 MB of it within the default body limit) held the
    // event loop two seconds and took half a gigabyte; what parsing costs grows with the values, not the bytes.
    const body = `{"model":"open","messages":[{"role":"user","content":"hi"}],"extra":[${'{},'.repeat(1_500_000)}{}]}`;
    const cpuMs = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    const c0 = cpuMs();
    JSON.parse(body);
    const parseCpu = cpuMs() - c0;
    const c1 = cpuMs();
    const res = await send(body);
    const requestCpu = cpuMs() - c1;
    assert.equal(res.status, 400);
    const err = ((await res.json()) as { error: { code: string; type: string; message: string } }).error;
    assert.equal(err.code, 'json_too_complex');
    assert.equal(err.type, 'invalid_request_error');
    assert.match(err.message, /more than 262144 arrays, objects and object members \(server\.max_json_nodes\)/);
    assert.ok(requestCpu < parseCpu / 2, `refused for ${requestCpu.toFixed(0)} ms of CPU, a parse alone costs ${parseCpu.toFixed(0)} ms`);
    // A million members of one object are values too.
    const keys = `{"model":"open","messages":[{"role":"user","content":"hi"}],"logit_bias":{${Array.from({ length: 300_000 }, (_, i) => `"${i}":1`).join(',')}}}`;
    assert.equal(((await (await send(keys)).json()) as { error: { code: string } }).error.code, 'json_too_complex');
  });

  test('a body nested past 512 levels is a 400 on every family, not an internal error', async () => {
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    const chat = await send(`{"model":"open","messages":[{"role":"user","content":"hi"}],"extra":${deep(100_000)}}`);
    assert.equal(chat.status, 400);
    assert.equal(((await chat.json()) as { error: { code: string } }).error.code, 'json_too_deep');
    // Translated to chat, a Responses request is written again with JSON.stringify, whose stack a few thousand levels
    // overflow: a tool's parameters 3,000 deep were a 500 "internal error".
    const tool = `{"model":"translated","input":"hi","max_output_tokens":5,"tools":[{"type":"function","name":"f","parameters":{"x":${deep(3000)}}}]}`;
    const responses = await send(tool, '/v1/responses');
    assert.equal(responses.status, 400);
    assert.equal(((await responses.json()) as { error: { code: string } }).error.code, 'json_too_deep');
    const messages = await send(`{"model":"open","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"metadata":{"x":${deep(1000)}}}`, '/v1/messages');
    assert.equal(messages.status, 400);
    assert.match(((await messages.json()) as { error: { message: string } }).error.message, /nested more than 512 levels/);
    const rerank = await send(`{"model":"open","query":"q","documents":["d"],"x":${deep(1000)}}`, '/rerank');
    assert.equal(rerank.status, 400);
  });

  test('brackets, colons and escaped quotes inside strings are text, not values', async () => {
    // More structural characters than max_json_nodes, all inside strings, with escaped quotes and backslash runs of
    // both parities before the quotes that end them.
    const text = `\\"${'[{:'.repeat(100_000)}\\\\`;
    const res = await send({
      model: 'open',
      max_tokens: 3,
      messages: [{ role: 'user', content: 'hi "}]' }],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'string', description: 'a "}]\\' } } } } }],
      vendor_note: text,
    });
    assert.equal(res.status, 200, await res.clone().text());
    // The body's own object is the first level: 511 more are within the bound (the simulator, like a Python engine,
    // has a bound of its own, so the answer is the backend's), 512 more are past it.
    const nested = (levels: number) => `{"model":"open","max_tokens":3,"messages":[{"role":"user","content":"hi"}],"extra":${'['.repeat(levels)}${']'.repeat(levels)}}`;
    const within = (await (await send(nested(511))).json()) as { error?: { code: string | null } };
    assert.notEqual(within.error?.code, 'json_too_deep');
    assert.equal(((await (await send(nested(512))).json()) as { error: { code: string } }).error.code, 'json_too_deep');
  });
});

test('a request destroyed before its body is read settles at once instead of hanging', async () => {
  const { readRequestBody } = await import('../../src/api/read-body.js');
  const { IncomingMessage } = await import('node:http');
  const { Socket } = await import('node:net');
  const incoming = new IncomingMessage(new Socket());
  incoming.destroy();
  await new Promise((r) => setImmediate(r)); // its close event has fired before anyone listens
  const hung = new Promise((_, reject) => setTimeout(() => reject(new Error('readRequestBody never settled')), 5000).unref());
  // The client is gone: an abort (499 in its usage row), not a 400 nobody reads.
  await assert.rejects(Promise.race([readRequestBody(incoming, 1024), hung]), (e: { kind?: string }) => e.kind === 'aborted');
});
