import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normaliseBackendError } from '../../src/upstream/normalise-error.js';

const b = (s: string) => Buffer.from(s);

test('keeps vLLM nested errors, dropping the integer code the OpenAI schema does not allow', () => {
  const e = normaliseBackendError(400, 'application/json', b('{"error":{"message":"max_tokens too large","type":"BadRequestError","param":"max_tokens","code":400}}'), 'b1');
  assert.equal(e.status, 400);
  assert.equal(e.message, 'max_tokens too large');
  assert.equal(e.type, 'BadRequestError');
  assert.equal(e.param, 'max_tokens');
  assert.equal(e.wireCode, null);
});

test('reads SGLang and older vLLM flat errors', () => {
  const e = normaliseBackendError(400, 'application/json', b('{"object":"error","message":"bad prompt","type":"BadRequestError","param":null,"code":400}'), 'b1');
  assert.equal(e.message, 'bad prompt');
  assert.equal(e.status, 400);
});

test('reads TGI errors and maps their type', () => {
  const e = normaliseBackendError(422, 'application/json', b('{"error":"Input validation error: inputs too long","error_type":"validation"}'), 'b1');
  assert.equal(e.status, 422);
  assert.equal(e.type, 'invalid_request_error');
  assert.match(e.message, /inputs too long/);
  const g = normaliseBackendError(424, 'application/json', b('{"error":"Request failed during generation","error_type":"generation"}'), 'b1');
  assert.equal(g.status, 424);
  assert.equal(g.type, 'server_error');
});

test('reads FastAPI detail lists and plain text, ignores HTML', () => {
  const d = normaliseBackendError(422, 'application/json', b('{"detail":[{"loc":["body","messages"],"msg":"field required"}]}'), 'b1');
  assert.equal(d.message, 'body.messages: field required');
  const t = normaliseBackendError(503, 'text/plain', b('  overloaded, try later \n'), 'b1');
  assert.equal(t.message, 'overloaded, try later');
  assert.equal(t.type, 'server_error');
  const h = normaliseBackendError(502, 'text/html', b('<html><body>Bad Gateway</body></html>'), 'b1');
  assert.match(h.message, /returned HTTP 502 with no error message/);
});

test('turns a backend 401 into a gateway 502 so the caller is not blamed', () => {
  const e = normaliseBackendError(401, 'application/json', b('{"error":{"message":"invalid api key"}}'), 'http://b1');
  assert.equal(e.status, 502);
  assert.equal(e.wireCode, 'upstream_auth_failed');
  assert.match(e.message, /rejected the gateway's credentials/);
});

test('clips huge messages', () => {
  const e = normaliseBackendError(500, 'text/plain', b('x'.repeat(10_000)), 'b1');
  assert.ok(e.message.length <= 2001);
});
