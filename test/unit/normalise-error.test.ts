import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normaliseBackendError, normaliseErrorEvent } from '../../src/upstream/normalise-error.js';

const b = (s: string) => Buffer.from(s);

test("keeps vLLM nested errors' message and param, with OpenAI's type and without the integer code", () => {
  const e = normaliseBackendError(400, 'application/json', b('{"error":{"message":"max_tokens too large","type":"BadRequestError","param":"max_tokens","code":400}}'), 'b1');
  assert.equal(e.status, 400);
  assert.equal(e.message, 'max_tokens too large');
  assert.equal(e.type, 'invalid_request_error');
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
  // OpenAI answers a malformed request with 400 and a failure while generating with a 5xx.
  assert.equal(e.status, 400);
  assert.equal(e.type, 'invalid_request_error');
  assert.match(e.message, /inputs too long/);
  const g = normaliseBackendError(424, 'application/json', b('{"error":"Request failed during generation","error_type":"generation"}'), 'b1');
  assert.equal(g.status, 500);
  assert.equal(g.type, 'server_error');
  assert.equal(g.wireCode, 'generation');
});

test("a 429's type is rate_limit_error whatever the engine called it; a type that contradicts its status is not kept", () => {
  const tgi = normaliseBackendError(429, 'application/json', b('{"error":"Model is overloaded","error_type":"overloaded"}'), 'b1');
  assert.equal(tgi.status, 429);
  assert.equal(tgi.type, 'rate_limit_error');
  assert.equal(tgi.wireCode, 'overloaded');
  const llama = normaliseBackendError(429, 'application/json', b('{"error":{"code":429,"message":"busy","type":"invalid_request_error"}}'), 'b1');
  assert.equal(llama.type, 'rate_limit_error');
  const quota = normaliseBackendError(429, 'application/json', b('{"error":{"message":"quota","type":"insufficient_quota"}}'), 'b1');
  assert.equal(quota.type, 'insufficient_quota');
  const odd = normaliseBackendError(400, 'application/json', b('{"error":{"message":"x","type":"server_error"}}'), 'b1');
  assert.equal(odd.type, 'invalid_request_error');
  const notFound = normaliseBackendError(404, 'application/json', b('{"error":{"message":"no model","type":"invalid_request_error","code":"model_not_found"}}'), 'b1');
  assert.equal(notFound.type, 'invalid_request_error');
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

test('turns a backend 401 into a gateway 502 so the caller is not blamed, without the backend\'s words about the secret', () => {
  for (const status of [401, 403]) {
    const e = normaliseBackendError(status, 'application/json', b('{"error":{"message":"invalid api key sk-backend-XYZ for org internal-org-42"}}'), 'http://b1');
    assert.equal(e.status, 502);
    assert.equal(e.wireCode, 'upstream_auth_failed');
    assert.match(e.message, /rejected the gateway's credentials/);
    assert.doesNotMatch(e.message, /sk-backend|internal-org/);
  }
});

test('clips huge messages', () => {
  const e = normaliseBackendError(500, 'text/plain', b('x'.repeat(10_000)), 'b1');
  assert.ok(e.message.length <= 2001);
});

test("maps every engine error class to OpenAI's type by status, keeping OpenAI's own types", () => {
  const cases: Array<[number, string, string]> = [
    [400, 'BadRequestError', 'invalid_request_error'],
    [404, 'NotFoundError', 'not_found_error'],
    [429, 'TooManyRequestsError', 'rate_limit_error'],
    [500, 'InternalServerError', 'server_error'],
    [503, 'ServiceUnavailableError', 'server_error'],
    [429, 'insufficient_quota', 'insufficient_quota'],
  ];
  for (const [status, engineType, expected] of cases) {
    const e = normaliseBackendError(status, 'application/json', b(JSON.stringify({ object: 'error', message: 'x', type: engineType, code: status })), 'b1');
    assert.equal(e.type, expected, `${status} ${engineType}`);
  }
});

test('keeps the backend\'s retry-after and retry-after-ms, and nothing else of its headers', () => {
  const e = normaliseBackendError(503, 'application/json', b('{"message":"busy"}'), 'b1', { 'retry-after': '3', 'retry-after-ms': '2500', 'set-cookie': ['x=1'] });
  assert.deepEqual(e.headers, { 'retry-after': '3', 'retry-after-ms': '2500' });
});

test('normalises stream error events of vLLM, SGLang and TGI to the envelope', () => {
  const vllm = normaliseErrorEvent('{"error":{"object":"error","message":"boom","type":"InternalServerError","param":null,"code":500}}', 'b1');
  assert.equal(vllm.type, 'server_error');
  assert.equal(vllm.message, 'boom');
  assert.equal(typeof vllm.wireCode, 'string');
  const bad = normaliseErrorEvent('{"error":{"message":"too long","type":"BadRequestError","code":400}}', 'b1');
  assert.equal(bad.type, 'invalid_request_error');
  assert.equal(bad.status, 400);
  const tgi = normaliseErrorEvent('{"error":"Request failed during generation: OOM","error_type":"generation"}', 'b1');
  assert.equal(tgi.type, 'server_error');
  assert.equal(tgi.wireCode, 'generation');
  const text = normaliseErrorEvent('not json at all', 'b1');
  assert.equal(text.message, 'not json at all');
});

test("gives a context overflow OpenAI's code context_length_exceeded, in each engine's wording", () => {
  const cases: Array<[number, string]> = [
    // vLLM, older and newer wording (nested, integer code)
    [400, `{"error":{"message":"This model's maximum context length is 32768 tokens. However, you requested 200021 tokens (21 in the messages, 200000 in the completion).","type":"BadRequestError","param":"max_tokens","code":400}}`],
    [400, `{"error":{"message":"'max_tokens' or 'max_completion_tokens' is too large: 8000. This model's maximum context length is 4096 tokens and your request has 2778 input tokens (8000 > 4096 - 2778).","type":"BadRequestError","param":null,"code":400}}`],
    // SGLang, flat
    [400, `{"object":"error","message":"Requested token count exceeds the model's maximum context length of 4096 tokens.","type":"BadRequestError","param":null,"code":400}`],
    // llama.cpp server: its own type says it
    [400, `{"error":{"code":400,"message":"request (9000 tokens) exceeds the available context size (4096 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":9000,"n_ctx":4096}}`],
    // TGI: its error_type is only "validation"
    [422, '{"error":"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 12 `inputs` tokens and 5000 `max_new_tokens`","error_type":"validation"}'],
  ];
  for (const [status, body] of cases) {
    const e = normaliseBackendError(status, 'application/json', b(body), 'b1');
    assert.equal(e.wireCode, 'context_length_exceeded', body);
    assert.equal(e.type, 'invalid_request_error', body);
    assert.equal(e.status, 400, `${status}: ${body}`);
  }
  // Other client errors keep the engine's code (or none); a server error is never blamed on the context.
  assert.equal(normaliseBackendError(400, 'application/json', b('{"error":{"message":"n must be at least 1","type":"BadRequestError","code":400}}'), 'b1').wireCode, null);
  assert.equal(normaliseBackendError(422, 'application/json', b('{"error":"Input validation error: temperature must be positive","error_type":"validation"}'), 'b1').wireCode, 'validation');
  assert.equal(normaliseBackendError(500, 'text/plain', b("exceeded the maximum context length while scheduling"), 'b1').wireCode, null);
  // The same in a stream's error event.
  const ev = normaliseErrorEvent(`{"error":{"message":"This model's maximum context length is 2048 tokens.","type":"BadRequestError","code":400}}`, 'b1');
  assert.equal(ev.wireCode, 'context_length_exceeded');
  assert.equal(ev.status, 400);
});
