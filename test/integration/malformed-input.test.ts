import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { assertMatchesSpec, startSims, startTestGateway } from '../helpers/harness.js';

/**
 * A hostile client's malformed items (a `null` tool, a `null` system block) are its own 400, named by field, before
 * any backend is called: they were a 500 from the gateway's prompt estimate, or a 500 from the backend, and eight of
 * those ejected every backend as unhealthy.
 */

async function send(gw: Gateway, path: string, body: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await res.text();
  try {
    return { status: res.status, json: JSON.parse(text) as Record<string, unknown> };
  } catch {
    return assert.fail(`not JSON (${res.status}): ${text.slice(0, 200)}`);
  }
}

interface OpenAIError {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

describe('malformed items in a request', () => {
  let sims: SimServer[];
  let gw: Gateway;
  const backendPosts = () => sims.reduce((n, s) => n + s.log.entries.filter((e) => e.method === 'POST').length, 0);

  before(async () => {
    sims = await startSims(2);
    gw = await startTestGateway([{ name: 'sim-llama-8b', backends: sims.map((s) => ({ url: s.url, model: 'sim-llama-8b' })) }]);
  });
  after(async () => {
    await gw.close(100);
    await Promise.all(sims.map((s) => s.close()));
  });

  test('chat: a null tool is a 400 naming tools[0], streamed or not, and no backend sees it', async () => {
    const before = backendPosts();
    for (const stream of ['', ',"stream":true']) {
      const r = await send(gw, '/v1/chat/completions', `{"model":"sim-llama-8b","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"tools":[null]${stream}}`);
      assert.equal(r.status, 400, JSON.stringify(r.json));
      assertMatchesSpec('ErrorResponse', r.json);
      const error = r.json.error as OpenAIError;
      assert.equal(error.type, 'invalid_request_error');
      assert.equal(error.param, 'tools[0]');
      assert.equal(error.code, 'invalid_type');
      assert.match(error.message, /'tools\[0\]': expected an object, but got null/);
    }
    const part = await send(gw, '/v1/chat/completions', '{"model":"sim-llama-8b","messages":[{"role":"user","content":[{"type":"text","text":"hi"},null]}],"max_tokens":5}');
    assert.equal(part.status, 400);
    assert.equal((part.json.error as OpenAIError).param, 'messages[0].content[1]');
    // An object whose `toString` is not a function was a 500 from the routing prompt's String(url).
    const url = await send(gw, '/v1/chat/completions', '{"model":"sim-llama-8b","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":{"toString":1}}}]}],"max_tokens":3}');
    assert.notEqual(url.status, 500, JSON.stringify(url.json));
    assert.equal(backendPosts() - before, url.status === 200 ? 1 : 0, 'only the well-formed request reached a backend');
  });

  test('messages: malformed system and content blocks are 400s naming the field; the backends stay healthy', async () => {
    const before = backendPosts();
    const cases: Array<[string, string, string]> = [
      ['/v1/messages', '"system":[null]', 'system[0]'],
      ['/v1/messages', '"system":[{"type":"text","text":{"toString":1}}]', 'system[0].text'],
      ['/v1/messages', '"system":[{"type":"image"}]', 'system[0].type'],
      ['/v1/messages', '"stream":true,"system":[null]', 'system[0]'],
      ['/v1/messages', '"messages":[{"role":"user","content":[null]}]', 'messages[0].content[0]'],
      ['/v1/messages', '"messages":[{"role":"user","content":[{"type":"text"}]}]', 'messages[0].content[0].text'],
      ['/v1/messages', '"tools":[null]', 'tools[0]'],
      ['/v1/messages/count_tokens', '"system":[null]', 'system[0]'],
    ];
    for (const [path, fields, param] of cases) {
      const body = `{"model":"sim-llama-8b","max_tokens":3,"messages":[{"role":"user","content":"x"}],${fields}}`;
      const r = await send(gw, path, body);
      assert.equal(r.status, 400, `${body}: ${JSON.stringify(r.json)}`);
      // Anthropic's envelope, which has no `param`: the message names the field.
      assert.equal(r.json.type, 'error');
      const error = r.json.error as { type: string; message: string };
      assert.equal(error.type, 'invalid_request_error');
      assert.ok(error.message.includes(`'${param}'`), `${body}: ${error.message}`);
    }
    // The probe's own request, more times than it took to eject every backend (3 consecutive 5xx each).
    for (let i = 0; i < 8; i++) {
      const r = await send(gw, '/v1/messages', '{"model":"sim-llama-8b","max_tokens":3,"messages":[{"role":"user","content":"x"}],"system":[null]}');
      assert.equal(r.status, 400);
    }
    assert.equal(backendPosts(), before, 'no malformed request reached a backend');

    const ready = await fetch(`${gw.url}/readyz?model=sim-llama-8b`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as { healthy_backends: number }).healthy_backends, 2);
    assert.equal((await fetch(`${gw.url}/readyz`)).status, 200);
    for (let i = 0; i < 4; i++) {
      const ok = await send(gw, '/v1/messages', '{"model":"sim-llama-8b","max_tokens":3,"system":[{"type":"text","text":"Be brief."}],"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}');
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
      assert.equal(ok.json.type, 'message');
    }
  });
});

describe('malformed items in a Responses request', () => {
  let sims: SimServer[];
  let gw: Gateway;

  before(async () => {
    const [native] = await startSims(1);
    const [chatOnly] = await startSims(1, { personality: 'sglang' });
    sims = [native!, chatOnly!];
    gw = await startTestGateway([
      { name: 'native', backends: [{ url: native!.url, model: 'sim-llama-8b' }] },
      // Served by translating to chat completions (to-chat.ts), where client values become chat fields.
      { name: 'chat-only', backends: [{ url: chatOnly!.url, kind: 'sglang', model: 'sim-llama-8b' }] },
    ]);
  });
  after(async () => {
    await gw.close(100);
    await Promise.all(sims.map((s) => s.close()));
  });

  test('items, roles and tools that are not what they must be are a 400 naming them, never a 500', async () => {
    const cases: Array<[string, string]> = [
      ['"input":[null]', 'input[0]'],
      ['"input":["hi"]', 'input[0]'],
      ['"input":[{"role":"user","content":"hi"},{"type":{"toString":1},"content":"x"}]', 'input[1].type'],
      ['"input":[{"role":{"toString":1},"content":"hi"}]', 'input[0].role'],
      ['"input":[{"role":"user","content":[null]}]', 'input[0].content'],
      ['"input":"hi","tools":[null]', 'tools[0]'],
      ['"input":"hi","tools":[{"name":"f"}]', 'tools[0].type'],
    ];
    for (const model of ['native', 'chat-only']) {
      for (const [fields, param] of cases) {
        const r = await send(gw, '/v1/responses', `{"model":"${model}",${fields}}`);
        assert.equal(r.status, 400, `${model} ${fields}: ${JSON.stringify(r.json)}`);
        assertMatchesSpec('ErrorResponse', r.json);
        assert.ok((r.json.error as OpenAIError).param?.startsWith(param.split('.')[0]!), `${fields}: ${JSON.stringify(r.json)}`);
      }
    }
    // Text fields of the wrong kind inside well-formed parts: not worth a refusal, never a crash.
    const odd = await send(gw, '/v1/responses', '{"model":"chat-only","input":[{"role":"user","content":[{"type":"input_text","text":"hi"},{"type":"refusal","refusal":{"toString":1}}]}],"max_output_tokens":3}');
    assert.ok(odd.status < 500, JSON.stringify(odd.json));
    const ok = await send(gw, '/v1/responses', '{"model":"chat-only","input":[{"role":"user","content":"hi"}],"max_output_tokens":3}');
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
  });
});
