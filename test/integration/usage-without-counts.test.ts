import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/server/index.js';
import type { RequestCtx } from '../../src/core/index.js';
import { eventually, startTestGateway } from '../helpers/harness.js';
import { startScriptedBackend, type ScriptedBackend } from '../helpers/scripted-backend.js';

/**
 * A non-streamed answer without usage (or with counts no engine could report) was charged 0 output tokens: limits,
 * quotas and reports took a backend that leaves usage out as serving for free. Its text is estimated now.
 */
let be: ScriptedBackend;
let gw: Gateway;
const ended: RequestCtx[] = [];
const TEXT = 'one two three four five six seven eight nine ten eleven twelve'; // 62 characters

before(async () => {
  be = await startScriptedBackend(() => {});
  gw = await startTestGateway([{ name: 'm', backends: [{ url: be.url }], retries: 0 }], { onRequestEnd: (ctx: RequestCtx) => void ended.push(ctx) });
});
after(async () => {
  await gw.close(100);
  await be.close();
});

const answer = (usage: unknown) =>
  JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: TEXT }, finish_reason: 'stop' }], ...(usage ? { usage } : {}) });

for (const [name, usage] of [
  ['no usage', null],
  ['unbelievable usage', { prompt_tokens: -5, completion_tokens: 1e12, total_tokens: 1e12 }],
] as const) {
  test(`${name}: the answer's text is charged as estimated output`, async () => {
    be.setScript((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(answer(usage)));
    const before = ended.length;
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(res.status, 200);
    await res.text();
    const ctx = (await eventually(() => ended[before]))!;
    assert.equal(ctx.usage?.source, 'estimated');
    assert.equal(ctx.usage?.completionTokens, Math.ceil(TEXT.length / 4));
  });
}

test('a backend count is still taken as it is', async () => {
  be.setScript((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(answer({ prompt_tokens: 3, completion_tokens: 12, total_tokens: 15 })));
  const before = ended.length;
  await (await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) })).text();
  const ctx = (await eventually(() => ended[before]))!;
  assert.deepEqual([ctx.usage?.source, ctx.usage?.completionTokens], ['backend', 12]);
});
