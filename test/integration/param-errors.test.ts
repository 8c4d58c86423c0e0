import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { client, startSims, startTestGateway } from '../helpers/harness.js';

/** The parameters the gateway checks itself are refused in OpenAI's words and codes, seen through the SDK. */
describe('parameter errors as OpenAI words them', () => {
  let sims: SimServer[];
  let gw: Gateway;
  let sdk: OpenAI;

  before(async () => {
    sims = await startSims(1);
    gw = await startTestGateway([{ name: 'm', backends: [{ url: sims[0]!.url }] }]);
    sdk = client(gw);
  });
  after(async () => {
    await gw.close(100);
    await Promise.all(sims.map((s) => s.close()));
  });

  async function refusal(call: Promise<unknown>): Promise<InstanceType<typeof OpenAI.BadRequestError>> {
    const err = await call.then(
      () => assert.fail('answered'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof OpenAI.BadRequestError, String(err));
    return err;
  }

  test("a missing prompt or input is 'Missing required parameter', whatever the field's shape", async () => {
    const prompt = await refusal(sdk.completions.create({ model: 'm' } as never));
    assert.equal(prompt.code, 'missing_required_parameter');
    assert.equal(prompt.param, 'prompt');
    assert.match(prompt.message, /Missing required parameter: 'prompt'\./);
    const input = await refusal(sdk.embeddings.create({ model: 'm' } as never));
    assert.equal(input.code, 'missing_required_parameter');
    assert.match(input.message, /Missing required parameter: 'input'\./);
    const messages = await refusal(sdk.chat.completions.create({ model: 'm' } as never));
    assert.equal(messages.code, 'missing_required_parameter');
    assert.equal(messages.param, 'messages');
  });

  test('numbers below their minimum: integer_below_min_value naming the bound and the value', async () => {
    const n = await refusal(sdk.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], n: 0 }));
    assert.equal(n.code, 'integer_below_min_value');
    assert.equal(n.param, 'n');
    assert.match(n.message, /Invalid 'n': integer below minimum value\. Expected a value >= 1, but got 0 instead\./);
    for (const field of ['max_tokens', 'max_completion_tokens']) {
      const e = await refusal(sdk.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], [field]: 0 }));
      assert.equal(e.code, 'integer_below_min_value', field);
      assert.equal(e.param, field);
    }
    const negative = await refusal(sdk.completions.create({ model: 'm', prompt: 'hi', max_tokens: -1 }));
    assert.equal(negative.code, 'integer_below_min_value');
    assert.match(negative.message, />= 0, but got -1/);
    const fraction = await refusal(sdk.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], best_of: 0.5 } as never));
    assert.equal(fraction.param, 'best_of');
  });

  test('legacy completions keep max_tokens: 0 (scoring a prompt with echo)', async () => {
    const res = await fetch(`${gw.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', prompt: 'hi', max_tokens: 0 }),
    });
    const body = (await res.json()) as { error?: { code?: string } };
    assert.notEqual(body.error?.code, 'integer_below_min_value');
  });

  test('an empty messages list is empty_array; a model name over 256 characters is string_above_max_length', async () => {
    const empty = await refusal(sdk.chat.completions.create({ model: 'm', messages: [] }));
    assert.equal(empty.code, 'empty_array');
    assert.match(empty.message, /Invalid 'messages': empty array\. Expected an array with minimum length 1, but got an empty array instead\./);
    const long = await refusal(sdk.chat.completions.create({ model: 'x'.repeat(300), messages: [{ role: 'user', content: 'hi' }] }));
    assert.equal(long.code, 'string_above_max_length');
    assert.match(long.message, /maximum length 256, but got a string with length 300/);
    const emptyInput = await refusal(sdk.embeddings.create({ model: 'm', input: [] }));
    assert.equal(emptyInput.param, 'input');
  });
});
