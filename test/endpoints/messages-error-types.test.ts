import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic, { APIError } from '@anthropic-ai/sdk';
import { startTestGateway } from '../helpers/harness.js';
import { startScriptedBackend, type ScriptedBackend } from '../helpers/scripted-backend.js';
import type { Gateway } from '../../src/server/index.js';

/**
 * The `error.type` of a Messages error is the one Anthropic's API reference gives its status: code that branches on
 * it (retry on `overloaded_error`, report `timeout_error`) sees what it would see from Anthropic. A backend's 529
 * was relayed as `api_error`, and the gateway's own 504 deadlines were `api_error` too.
 */
describe('Anthropic error types by status', () => {
  let backend: ScriptedBackend;
  let gw: Gateway;
  const client = () => new Anthropic({ baseURL: gw.url, apiKey: 'unused', maxRetries: 0, timeout: 10_000 });
  const req = (mode: string) => ({ model: 'm', max_tokens: 8, messages: [{ role: 'user' as const, content: mode }] });

  before(async () => {
    backend = await startScriptedBackend((_req, res, body) => {
      const mode = (body.messages as Array<{ content: string }>)[0]!.content;
      if (mode === 'stall') return;
      const status = Number(mode);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'error', error: { type: 'whatever_the_engine_says', message: `status ${status}` } }));
    });
    gw = await startTestGateway([{ name: 'm', retries: 0, backends: [{ url: backend.url }] }], { server: { timeouts: { request: '300ms' } } });
  });
  after(async () => {
    await gw.close(100);
    await backend.close();
  });

  test('a backend 529 is overloaded_error (the SDK raises OverloadedError), a 402 billing_error, a 409 conflict_error', async () => {
    for (const [status, type, cls] of [
      [529, 'overloaded_error', Anthropic.OverloadedError],
      [402, 'billing_error', Anthropic.PaymentRequiredError],
      [409, 'conflict_error', Anthropic.ConflictError],
      [500, 'api_error', Anthropic.InternalServerError],
    ] as const) {
      const err = await client()
        .messages.create(req(String(status)))
        .catch((e: unknown) => e);
      assert.ok(err instanceof cls, `${status}: ${String(err)}`);
      assert.equal((err as APIError).status, status);
      assert.equal(((err as APIError).error as { error: { type: string } }).error.type, type);
    }
  });

  test("the gateway's own deadline (504) is timeout_error", async () => {
    const err = await client()
      .messages.create(req('stall'))
      .catch((e: unknown) => e);
    assert.ok(err instanceof Anthropic.GatewayTimeoutError, String(err));
    assert.equal(((err as APIError).error as { error: { type: string } }).error.type, 'timeout_error');
  });
});
