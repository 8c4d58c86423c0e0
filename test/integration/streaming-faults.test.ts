import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { assertMatchesSpec, client, eventually, readSse, startSims, startTestGateway } from '../helpers/harness.js';

function streamBody(content: string, fault?: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model: 'llama', messages: [{ role: 'user', content }], stream: true, max_tokens: 40, ignore_eos: true, ...(fault ? { sim_fault: fault } : {}), ...extra });
}

describe('streaming failures and client disconnects', () => {
  let sims: SimServer[];
  let gw: Gateway;

  before(async () => {
    sims = await startSims(2);
    gw = await startTestGateway([{ name: 'llama', backends: sims.map((s) => ({ url: s.url, model: 'sim-llama-8b' })), policy: 'round_robin', retries: 1 }], {
      server: { timeouts: { connect: '1s', first_byte: '1500ms', idle: '600ms', total: '30s' } },
    });
  });
  after(async () => {
    await gw.close(100);
    await Promise.all(sims.map((s) => s.close()));
  });

  test('ends with an SSE error event, not a clean finish, when the backend drops mid-stream, and never retries', async () => {
    for (const s of sims) s.log.clear();
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: streamBody('drop', { drop_after_chunks: 3 }) });
    assert.equal(res.status, 200);
    const events = await readSse(res);
    assert.notEqual(events.at(-1), '[DONE]');
    const last = JSON.parse(events.at(-1)!);
    assertMatchesSpec('ErrorResponse', last);
    assert.equal(last.error.code, 'upstream_error');
    // Bytes had reached the client: a retry would duplicate them, so the other backend never saw the request.
    const seen = sims.flatMap((s) => s.log.entries).filter((e) => e.rawBody.includes('"drop"'));
    assert.equal(seen.length, 1, 'exactly one attempt');
  });

  test('makes the SDK throw when the backend drops mid-stream', async () => {
    const stream = await client(gw).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'sdk drop' }], stream: true, sim_fault: { drop_after_chunks: 2 } } as never);
    await assert.rejects(async () => {
      for await (const _ of stream as unknown as AsyncIterable<unknown>) {
        // consume
      }
    }, OpenAI.APIError);
  });

  test('ends with a timeout error event when the backend stalls past the idle timeout', async () => {
    const started = Date.now();
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: streamBody('stall', { stall_after_chunks: 2 }) });
    const events = await readSse(res);
    const last = JSON.parse(events.at(-1)!);
    assert.equal(last.error.code, 'upstream_timeout');
    assert.ok(Date.now() - started < 10_000);
  });

  test('retries on another backend when the first stalls before its first byte', async () => {
    // round robin: whichever backend gets the faulty request, the retry goes to the other one, whose fault is off
    for (const s of sims) s.log.clear();
    sims[0]!.setFault({ stall_before_first_ms: 10_000 });
    try {
      const events: string[] = [];
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: streamBody(`retry ${i}`) });
        assert.equal(res.status, 200);
        events.push(...(await readSse(res)));
      }
      assert.equal(events.filter((e) => e === '[DONE]').length, 2);
    } finally {
      sims[0]!.setFault(null);
    }
  });

  test('aborts the upstream request as soon as the client disconnects', async () => {
    for (const s of sims) s.log.clear();
    const controller = new AbortController();
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: streamBody('abort me', { token_delay_ms: 50 }, { max_tokens: 500 }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    const entry = await eventually(() => sims.flatMap((s) => s.log.entries).find((e) => e.rawBody.includes('abort me') && e.aborted));
    assert.equal(entry?.finished, false);
  });

  test('keeps serving other requests after a burst of client aborts', async () => {
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const controller = new AbortController();
        const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: streamBody(`burst ${i}`, { token_delay_ms: 20 }), signal: controller.signal });
        const reader = res.body!.getReader();
        await reader.read();
        controller.abort();
      }),
    );
    const res = await client(gw).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'still alive' }] });
    assert.ok(res.choices[0]?.message.content);
  });

  test('fails over to the next backend when the first refuses connections', async () => {
    const dead = 'http://127.0.0.1:1';
    const gw2 = await startTestGateway([{ name: 'llama', backends: [{ url: dead }, { url: sims[0]!.url, model: 'sim-llama-8b' }], policy: 'round_robin' }]);
    try {
      for (let i = 0; i < 4; i++) {
        const r = await client(gw2).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: `fo ${i}` }] });
        assert.ok(r.choices[0]?.message.content);
      }
    } finally {
      await gw2.close(100);
    }
  });

  test('falls back to another model when every backend of the first fails', async () => {
    const gw3 = await startTestGateway([
      { name: 'primary', backends: [{ url: 'http://127.0.0.1:1' }], fallback: ['secondary'] },
      { name: 'secondary', backends: [{ url: sims[1]!.url, model: 'sim-llama-8b' }] },
    ]);
    try {
      const r = await client(gw3).chat.completions.create({ model: 'primary', messages: [{ role: 'user', content: 'fallback' }] });
      assert.equal(r.model, 'sim-llama-8b');
    } finally {
      await gw3.close(100);
    }
  });
});
