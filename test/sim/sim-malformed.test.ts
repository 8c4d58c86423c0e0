import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SimServer } from '../../src/sim/index.js';
import { CHAT, json, post, sim } from './sim-helpers.js';

/**
 * A client's malformed input is a 400 from the simulator, as from the engines it imitates, never a 500: a gateway
 * counts 5xx against a backend's health, so a client's typo repeated a few times used to eject every backend.
 */

// Parsed from JSON, as client values are: `{"toString":1}` makes String() and template literals throw.
const HOSTILE = JSON.parse('[null, 1, "str", true, [], [null], [1], [[1]], {}, {"toString":1}, [{"toString":1,"valueOf":1}], {"type":"text","text":1}, [{"type":"text"}]]') as unknown[];

const BODIES: Record<string, Record<string, unknown>> = {
  [CHAT]: {
    model: 'sim-llama-8b',
    max_tokens: 3,
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'hi' }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{}' } }] },
    ],
    tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
    tool_choice: 'auto',
  },
  '/v1/messages': {
    model: 'sim-llama-8b',
    max_tokens: 3,
    system: [{ type: 'text', text: 'sys' }],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'tool_result', tool_use_id: 't', content: 'r' }] }],
    tools: [{ name: 'f', input_schema: { type: 'object' } }],
    tool_choice: { type: 'auto' },
  },
  '/v1/messages/count_tokens': { model: 'sim-llama-8b', system: [{ type: 'text', text: 'sys' }], messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] },
  '/v1/responses': {
    model: 'sim-llama-8b',
    max_output_tokens: 3,
    instructions: 'x',
    input: [
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] },
      { type: 'function_call', name: 'f', arguments: '{}', call_id: 'c' },
      { type: 'function_call_output', call_id: 'c', output: 'x' },
    ],
    tools: [{ type: 'function', name: 'f', parameters: { type: 'object' } }],
  },
  '/v1/completions': { model: 'sim-llama-8b', max_tokens: 3, prompt: 'hi' },
  '/v1/embeddings': { model: 'sim-llama-8b', input: 'hi' },
  '/tokenize': { model: 'sim-llama-8b', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] },
};

type Path = (string | number)[];

/** Every place in a body (each field, item and nested field) a hostile value can be put. */
function places(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  if (at.length > 0) out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => places(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) places(x, [...at, k], out);
  return out;
}

function withValue(body: Record<string, unknown>, at: Path, value: unknown): Record<string, unknown> {
  const copy = structuredClone(body);
  let o = copy as Record<string | number, unknown>;
  for (const k of at.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  o[at[at.length - 1]!] = value;
  return copy;
}

async function sweep(s: SimServer, paths: string[]): Promise<string[]> {
  const failures: string[] = [];
  for (const path of paths) {
    const base = BODIES[path]!;
    for (const at of places(base)) {
      for (const value of HOSTILE) {
        const body = withValue(base, at, value);
        const res = await post(s, path, body);
        const text = await res.text();
        if (res.status >= 500) failures.push(`${res.status} ${path} ${at.join('.')}=${JSON.stringify(value)}: ${text.slice(0, 120)}`);
      }
    }
  }
  return failures;
}

describe('the simulator refuses malformed input with 400, never 500', () => {
  let vllm: SimServer;
  let llamacpp: SimServer;
  let sglang: SimServer;

  before(async () => {
    [vllm, llamacpp, sglang] = await Promise.all([sim({ timeScale: 0.001 }), sim({ personality: 'llamacpp', timeScale: 0.001 }), sim({ personality: 'sglang', timeScale: 0.001 })]);
  });
  after(async () => {
    await Promise.all([vllm, llamacpp, sglang].map((s) => s.close()));
  });

  test('Messages: a null system block, a null content block, a non-string text are 400s in Anthropic shape', async () => {
    const base = { model: 'sim-llama-8b', max_tokens: 3, messages: [{ role: 'user', content: 'x' }] };
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      // zod names a union's field, as the first segment of pydantic's union errors does.
      ['/v1/messages', { ...base, system: [null] }, /^system: /],
      ['/v1/messages', { ...base, stream: true, system: [null] }, /^system: /],
      ['/v1/messages', { ...base, system: [{ type: 'text', text: { toString: 1 } }] }, /^system: /],
      ['/v1/messages', { ...base, messages: [{ role: 'user', content: [null] }] }, /^messages\.0\.content: /],
      ['/v1/messages/count_tokens', { ...base, system: [null] }, /^system: /],
    ];
    for (const s of [vllm, llamacpp]) {
      for (const [path, body, message] of cases) {
        const res = await post(s, path, body);
        assert.equal(res.status, 400, `${s.personality} ${path} ${JSON.stringify(body)}`);
        const got = await json(res);
        assert.equal(got['type'], 'error');
        const error = got['error'] as { type: string; message: string };
        assert.equal(error.type, 'invalid_request_error');
        assert.match(error.message, message);
      }
    }
  });

  test('chat: a null tool or content part is a 400 naming it, in every personality', async () => {
    for (const s of [vllm, sglang]) {
      const tool = await post(s, CHAT, { ...BODIES[CHAT], tools: [null] });
      assert.equal(tool.status, 400);
      assert.match(JSON.stringify(await json(tool)), /tools\.0/);
      const part = await post(s, CHAT, { model: 'sim-llama-8b', messages: [{ role: 'user', content: [null] }] });
      assert.equal(part.status, 400);
      assert.match(JSON.stringify(await json(part)), /messages\.0\.content/);
    }
    // Bare string parts are text, as vLLM takes them.
    assert.equal((await post(vllm, CHAT, { model: 'sim-llama-8b', max_tokens: 2, messages: [{ role: 'user', content: ['hi', { type: 'text', text: 'there' }] }] })).status, 200);
  });

  test('a body nested deeper than the renderers can serialise is a 400', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    for (const [path, raw] of [
      [CHAT, `{"model":"sim-llama-8b","max_tokens":3,"messages":[{"role":"assistant","content":null,"tool_calls":${deep}},{"role":"user","content":"x"}]}`],
      ['/v1/responses', `{"model":"sim-llama-8b","max_output_tokens":3,"input":"x","tools":[{"type":"function","name":"f","parameters":${deep}}]}`],
    ] as const) {
      const res = await post(vllm, path, raw);
      assert.equal(res.status, 400, path);
      assert.match(JSON.stringify(await json(res)), /nested more than/);
    }
  });

  test('no hostile value anywhere in a body of any route is a 5xx', async () => {
    const failures = [
      ...(await sweep(vllm, Object.keys(BODIES))),
      ...(await sweep(llamacpp, ['/v1/messages', '/v1/messages/count_tokens', CHAT])),
      ...(await sweep(sglang, [CHAT, '/tokenize'])),
    ];
    assert.deepEqual(failures, []);
  });
});
