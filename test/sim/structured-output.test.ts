import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { zodResponseFormat, zodTextFormat } from 'openai/helpers/zod';
import { startSims, startTestGateway, client } from '../helpers/harness.js';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';

/**
 * The simulator answers structured-output requests as an engine's guided decoding does, so the SDKs' parse helpers
 * work against the quick start (they threw a SyntaxError on free text).
 */
describe('structured outputs from the simulator, through the gateway', () => {
  let sims: SimServer[];
  let gw: Gateway;
  before(async () => {
    sims = await startSims(1);
    gw = await startTestGateway([{ name: 'm', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] }]);
  });
  after(async () => {
    await gw?.close(100);
    await Promise.all((sims ?? []).map((s) => s.close()));
  });

  const Address = z.object({ city: z.string(), zip: z.number().int() });
  const Person = z.object({ name: z.string(), age: z.number(), tags: z.array(z.string()), role: z.enum(['admin', 'user']), home: Address, work: Address.nullable() });

  test('chat.completions.parse reads a value that satisfies the schema, streamed and not', async () => {
    const sdk = client(gw);
    const r = await sdk.chat.completions.parse({ model: 'm', messages: [{ role: 'user', content: 'who?' }], response_format: zodResponseFormat(Person, 'person') });
    const parsed = r.choices[0]!.message.parsed;
    assert.ok(parsed, 'parsed');
    assert.equal(Person.safeParse(parsed).success, true, JSON.stringify(parsed));
    assert.equal(r.choices[0]!.finish_reason, 'stop');
    const stream = sdk.chat.completions.stream({ model: 'm', messages: [{ role: 'user', content: 'who?' }], response_format: zodResponseFormat(Person, 'person') });
    const final = await stream.finalChatCompletion();
    assert.equal(Person.safeParse(final.choices[0]!.message.parsed).success, true);
  });

  test('json_object and vLLM guided_json give JSON; a cap cuts it with finish_reason length', async () => {
    const sdk = client(gw);
    const obj = await sdk.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'json' }], response_format: { type: 'json_object' } });
    assert.equal(typeof JSON.parse(obj.choices[0]!.message.content!), 'object');
    const guided = await sdk.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'json' }], guided_json: { type: 'object', properties: { ok: { type: 'boolean' } } } } as never);
    assert.deepEqual(JSON.parse(guided.choices[0]!.message.content!), { ok: true });
    const cut = await sdk.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'who?' }], max_tokens: 2, response_format: zodResponseFormat(Person, 'person') });
    assert.equal(cut.choices[0]!.finish_reason, 'length');
  });
  test('responses.parse (text.format) and completions get JSON too; the common bounds and formats are met', async () => {
    const sdk = client(gw);
    const r = await sdk.responses.parse({ model: 'm', input: 'who?', text: { format: zodTextFormat(Person, 'person') } });
    assert.equal(Person.safeParse(r.output_parsed).success, true, JSON.stringify(r.output_text));
    const c = await sdk.completions.create({ model: 'm', prompt: 'json', max_tokens: 100, guided_json: { type: 'object', properties: { ok: { type: 'boolean' } } } } as never);
    assert.deepEqual(JSON.parse(c.choices[0]!.text), { ok: true });
    const Event = z.object({ when: z.iso.datetime(), email: z.email(), id: z.uuid(), n: z.number().int().min(18), tags: z.array(z.string().min(3)).min(2) }).and(z.object({ extra: z.boolean() }));
    type Tree = { name: string; children: Tree[] };
    const Tree: z.ZodType<Tree> = z.lazy(() => z.object({ name: z.string(), children: z.array(Tree) }));
    for (const schema of [Event, z.object({ tree: Tree })] as z.ZodType[]) {
      const res = await sdk.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'x', schema: z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown> } } });
      const text = res.choices[0]!.message.content!;
      assert.equal(schema.safeParse(JSON.parse(text)).success, true, text);
    }
  });
});
