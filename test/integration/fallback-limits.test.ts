import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, startSims, startTestGateway } from '../helpers/harness.js';

test("a fallback model is tried only while its own limits admit the request", async () => {
  const [sim] = await startSims(1);
  const gw = await startTestGateway(
    [
      { name: 'cheap', backends: [{ url: 'http://127.0.0.1:1' }], retries: 0, fallback: ['backup'] },
      { name: 'backup', backends: [{ url: sim!.url, model: 'sim-llama-8b' }] },
    ],
    { sections: { limits: [{ match: { model: 'backup' }, rpm: 1 }] } },
  );
  try {
    const ask = () => client(gw).chat.completions.create({ model: 'cheap', messages: [{ role: 'user', content: 'hi' }] });
    const first = await ask();
    assert.ok(first.choices[0]?.message.content, 'the fallback answers while its limit admits the request');
    const second = (await ask().catch((e: unknown) => e)) as { status?: number };
    assert.ok(second.status === 502 || second.status === 503, `backup's rpm is spent, so it is skipped: got ${second.status}`);
    assert.equal(sim!.log.entries.filter((e) => e.path.endsWith('/chat/completions')).length, 1, 'backup was called once');
  } finally {
    await gw.close(50);
    await sim!.close();
  }
});

test("the caller's own rpm counts a request answered by a fallback model once", async () => {
  const [sim] = await startSims(1);
  const gw = await startTestGateway(
    [
      { name: 'cheap', backends: [{ url: 'http://127.0.0.1:1' }], retries: 0, fallback: ['backup'] },
      { name: 'backup', backends: [{ url: sim!.url, model: 'sim-llama-8b' }] },
    ],
    { sections: { limits: [{ match: { subject: '*' }, rpm: 2 }] } },
  );
  try {
    const ask = () => client(gw).chat.completions.create({ model: 'cheap', messages: [{ role: 'user', content: 'hi' }] });
    // Each request is tried on `cheap` (down) and answered by `backup`: one request each against the caller's rpm of 2.
    for (let i = 0; i < 2; i++) assert.ok((await ask()).choices[0]?.message.content, `request ${i + 1} of 2 is answered`);
    const third = (await ask().catch((e: unknown) => e)) as { status?: number };
    assert.equal(third.status, 429, 'the third is over the rpm');
  } finally {
    await gw.close(50);
    await sim!.close();
  }
});
