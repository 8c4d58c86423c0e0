import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import type { SimServer } from '../../src/sim/index.js';
import { startSims } from '../helpers/harness.js';
import { lastEnded, lastPost, postJson, startGovernedGateway, type GovernedGateway } from './helpers.js';

describe('the Anthropic Messages API', () => {
  let vllm: SimServer;
  let sglang: SimServer;
  let g: GovernedGateway;
  let token: string;

  const anthropic = (apiKey: string) => new Anthropic({ baseURL: g.gw.url, apiKey, maxRetries: 0, timeout: 20_000 });

  before(async () => {
    vllm = (await startSims(1, { maxModelLen: 4096 }))[0]!;
    sglang = (await startSims(1, { personality: 'sglang' }))[0]!;
    g = await startGovernedGateway(
      [
        { name: 'claude-local', backends: [{ url: vllm.url, model: 'sim-llama-8b' }] },
        { name: 'no-messages', backends: [{ url: sglang.url, kind: 'sglang', model: 'sim-llama-8b' }] },
      ],
      { limits: [{ match: { subject: 'once' }, rpm: 1 }] },
    );
    token = await g.token('models:*');
  });
  after(async () => {
    await g.close();
    await Promise.all([vllm, sglang].map((s) => s.close()));
  });

  test('answers through the official SDK with x-api-key as the gateway credential, usage from the backend', async () => {
    const msg = await anthropic(token).messages.create({ model: 'claude-local', max_tokens: 64, system: 'Be brief.', messages: [{ role: 'user', content: 'Hello there' }] });
    assert.equal(msg.type, 'message');
    assert.equal(msg.content[0]?.type, 'text');
    assert.ok((msg.content[0] as Anthropic.TextBlock).text.length > 0);
    assert.equal(msg.stop_reason, 'end_turn');
    const sent = lastPost(vllm);
    assert.equal(sent.path, '/v1/messages');
    assert.equal(JSON.parse(sent.rawBody).model, 'sim-llama-8b');
    const ctx = lastEnded(g, 'messages');
    assert.equal(ctx.principal.subject, 'alice');
    assert.equal(ctx.usage?.source, 'backend');
    assert.deepEqual([ctx.usage?.promptTokens, ctx.usage?.completionTokens], [msg.usage.input_tokens, msg.usage.output_tokens]);
  });

  test('streams events through to the SDK and records the streamed usage', async () => {
    const stream = await anthropic(token).messages.create({ model: 'claude-local', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'Stream please' }] });
    const types: string[] = [];
    let text = '';
    let output = -1;
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
      if (ev.type === 'message_delta') output = ev.usage.output_tokens;
    }
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    assert.ok(text.length > 0);
    assert.equal(output, 5);
    const ctx = lastEnded(g, 'messages');
    assert.equal(ctx.stream, true);
    assert.equal(ctx.usage?.completionTokens, 5);
    assert.ok((ctx.usage?.promptTokens ?? 0) > 0);
  });

  test('returns tool_use blocks and counts tokens without spending any', async () => {
    const client = anthropic(token);
    const msg = await client.messages.create({
      model: 'claude-local',
      max_tokens: 100,
      tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      messages: [{ role: 'user', content: 'Call get_weather for Oslo' }],
    });
    assert.equal(msg.stop_reason, 'tool_use');
    const use = msg.content.find((b) => b.type === 'tool_use') as Anthropic.ToolUseBlock;
    assert.deepEqual([use.name, use.input], ['get_weather', { city: 'x' }]);

    const counted = await client.messages.countTokens({ model: 'claude-local', messages: [{ role: 'user', content: 'How many tokens is this?' }] });
    assert.ok(counted.input_tokens > 0);
    const ctx = lastEnded(g, 'messages');
    assert.equal(lastPost(vllm).path, '/v1/messages/count_tokens');
    assert.deepEqual([ctx.usage?.promptTokens, ctx.usage?.completionTokens], [0, 0]);
  });

  test('speaks Anthropic errors: 400, 401, 403, 429 and a backend error, with the SDK raising the matching class', async () => {
    const bad = await postJson(`${g.gw.url}/v1/messages`, token, { model: 'claude-local', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(bad.status, 400);
    assert.deepEqual(await bad.json(), {
      type: 'error',
      error: { type: 'invalid_request_error', message: "Missing required parameter: 'max_tokens'." },
      request_id: bad.headers.get('request-id'),
    });

    const req = { model: 'claude-local', max_tokens: 8, messages: [{ role: 'user' as const, content: 'x' }] };
    await assert.rejects(anthropic('not-a-jwt').messages.create(req), Anthropic.AuthenticationError);
    await assert.rejects(anthropic(await g.token('models:claude-local:chat', 'dave')).messages.create(req), Anthropic.PermissionDeniedError);
    const scoped = await anthropic(await g.token('models:claude-local:messages', 'dave')).messages.create(req);
    assert.equal(scoped.type, 'message');

    const once = anthropic(await g.token('models:*', 'once'));
    await once.messages.create(req);
    await assert.rejects(once.messages.create(req), (e: unknown) => e instanceof Anthropic.RateLimitError && Number(e.headers?.get('retry-after')) >= 1);

    await assert.rejects(
      anthropic(token).messages.create({ ...req, model: 'no-messages' }),
      (e: unknown) => e instanceof Anthropic.BadRequestError && /serves the Anthropic Messages API/.test(e.message),
    );
    const tooLong = await postJson(`${g.gw.url}/v1/messages`, token, { ...req, max_tokens: 100_000 });
    assert.equal(tooLong.status, 400);
    const body = (await tooLong.json()) as { type: string; error: { type: string; message: string } };
    assert.equal(body.type, 'error');
    assert.match(body.error.message, /maximum context length/);
  });

  test('a request without a credential is told to send x-api-key, as Anthropic says it', async () => {
    const res = await postJson(`${g.gw.url}/v1/messages`, null, { model: 'claude-local', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] }, { 'anthropic-version': '2023-06-01' });
    assert.equal(res.status, 401);
    const body = (await res.json()) as { type: string; error: { type: string; message: string } };
    assert.equal(body.error.type, 'authentication_error');
    assert.match(body.error.message, /x-api-key/);
  });

  test('accepts the gateway credential as Authorization: Bearer too', async () => {
    const res = await postJson(`${g.gw.url}/v1/messages`, token, { model: 'claude-local', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { type: string }).type, 'message');
  });
  test("request ids where Anthropic's SDK reads them, on answers and errors alike", async () => {
    const msg = await anthropic(token).messages.create({ model: 'claude-local', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] });
    assert.match(msg._request_id ?? '', /^req_/);
    const stream = await fetch(`${g.gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': token, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-local', max_tokens: 4, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(stream.headers.get('request-id'), stream.headers.get('x-request-id'));
    await stream.text();
    const err = await anthropic(token)
      .messages.create({ model: 'nope', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    assert.ok(err instanceof Anthropic.NotFoundError);
    assert.match(err.requestID ?? '', /^req_/);
    assert.equal((err.error as { request_id?: string }).request_id, err.requestID);
  });

  test("the router's and the framing's refusals on the Messages routes are in Anthropic's shape", async () => {
    const method = await fetch(`${g.gw.url}/v1/messages`, { headers: { 'x-api-key': token } });
    assert.equal(method.status, 405);
    const m = (await method.json()) as { type?: string; error?: { type?: string }; request_id?: string };
    assert.equal(m.type, 'error');
    assert.equal(typeof m.error?.type, 'string');
    assert.ok(method.headers.get('request-id'));
    assert.equal(m.request_id, method.headers.get('request-id'));
    const unknown = await fetch(`${g.gw.url}/v1/messages/batches`, { method: 'POST', headers: { 'x-api-key': token } });
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error?: { type?: string } }).error?.type, 'not_found_error');
    // A body declared over the limit with Expect: 100-continue is refused before it is sent, still in Anthropic's shape.
    const { request } = await import('node:http');
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${g.gw.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': token, 'content-type': 'application/json', 'content-length': String(1 << 30), expect: '100-continue' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    assert.equal(answer.status, 413);
    const tooLarge = JSON.parse(answer.body) as { type?: string; error?: { type?: string }; request_id?: string };
    assert.equal(tooLarge.type, 'error');
    assert.equal(tooLarge.error?.type, 'request_too_large');
    assert.match(tooLarge.request_id ?? '', /^req_/);
    // The OpenAI routes keep OpenAI's envelope.
    const openai = await fetch(`${g.gw.url}/v1/chat/completions`);
    assert.equal(((await openai.json()) as { error?: { code?: string } }).error?.code, 'method_not_allowed');
  });
  test("Anthropic's SDK lists and retrieves models in its own shape, with x-api-key", async () => {
    const page = await anthropic(token).models.list();
    const ids = page.data.map((m) => m.id);
    assert.ok(ids.includes('claude-local'), ids.join());
    assert.equal(page.data[0]?.type, 'model');
    assert.match(page.data[0]?.created_at ?? '', /^\d{4}-\d\d-\d\dT/);
    const one = await anthropic(token).models.list({ limit: 1 });
    assert.equal(one.data.length, 1);
    assert.equal(one.has_more, true);
    const next = await anthropic(token).models.list({ limit: 1, after_id: one.data[0]!.id });
    assert.notEqual(next.data[0]?.id, one.data[0]!.id);
    // Both cursors bound a window: nothing between two neighbours, and no more beyond it; a cursor naming no model
    // bounds it to nothing rather than starting the list over.
    const [a, b] = [ids[0]!, ids[1]!];
    const between = await anthropic(token).models.list({ after_id: a, before_id: b });
    assert.deepEqual([between.data.length, between.has_more], [0, false]);
    const unknown = await anthropic(token).models.list({ after_id: 'no-such-model' });
    assert.deepEqual([unknown.data.length, unknown.has_more], [0, false]);
    const back = await anthropic(token).models.list({ before_id: b, limit: 1 });
    assert.deepEqual([back.data.map((m) => m.id), back.has_more], [[a], false]);
    const model = await anthropic(token).models.retrieve('claude-local');
    assert.equal(model.id, 'claude-local');
    const missing = await anthropic(token).models.retrieve('nope').catch((e: unknown) => e);
    assert.ok(missing instanceof Anthropic.NotFoundError, String(missing));
    const denied = await anthropic('not-a-jwt').models.list().then(() => null, (e: unknown) => e);
    assert.ok(denied instanceof Anthropic.AuthenticationError, String(denied));
    // OpenAI clients keep OpenAI's list.
    const openai = (await (await fetch(`${g.gw.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } })).json()) as { object: string };
    assert.equal(openai.object, 'list');
  });
});
