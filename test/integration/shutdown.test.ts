import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import OpenAI from 'openai';
import type { RequestCtx } from '../../src/core/index.js';
import { client, eventually, readSse, startSims, startTestGateway } from '../helpers/harness.js';

test('lets an in-flight stream finish on shutdown while refusing new connections', async () => {
  const [sim] = await startSims(1);
  const gw = await startTestGateway([{ name: 'llama', backends: [{ url: sim!.url, model: 'sim-llama-8b' }] }]);
  try {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'drain me' }], stream: true, max_tokens: 20, ignore_eos: true, sim_fault: { token_delay_ms: 15 } }),
    });
    assert.equal(res.status, 200);
    const closing = gw.close(5000);
    const events = await readSse(res);
    assert.equal(events.at(-1), '[DONE]', 'the in-flight stream completed');
    await closing;
    await assert.rejects(fetch(`${gw.url}/healthz`));
  } finally {
    await sim!.close();
  }
});

/**
 * Requests still running when the drain deadline passes are ended by the gateway, and say so: a stream gets a final
 * error event in OpenAI's envelope and a clean chunked end (not a reset), a request not answered yet gets a 503, and
 * each is logged as the gateway's end (503 shutting_down) and charged what was relayed, never as a client's 499.
 */
test('streams and requests still running at the drain deadline end with a shutdown error, logged as 503, not 499', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ig-drain-cut-'));
  const [sim] = await startSims(1);
  const ended: RequestCtx[] = [];
  const gw = await startTestGateway([{ name: 'llama', backends: [{ url: sim!.url, model: 'sim-llama-8b' }], retries: 0 }], {
    sections: { usage: { sqlite: join(dir, 'usage.db'), flush_interval: '20ms' } },
    onRequestEnd: (ctx) => void ended.push(ctx),
  });
  try {
    const long = (id: string, stream: boolean, fault: Record<string, number>) =>
      fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': id },
        body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'never done' }], stream, max_tokens: 2000, ignore_eos: true, sim_fault: fault }),
      });
    const raw = await long('cut-raw', true, { token_delay_ms: 20 });
    assert.equal(raw.status, 200);
    // Simulator-only fields ride along in the body.
    const simFields = { ignore_eos: true, sim_fault: { token_delay_ms: 20 } } as object;
    const sdkStream = await client(gw).chat.completions.create({
      model: 'llama',
      messages: [{ role: 'user', content: 'never done either' }],
      stream: true,
      max_tokens: 2000,
      ...simFields,
    });
    const sdkChunks: unknown[] = [];
    const sdkEnd = (async () => {
      try {
        for await (const chunk of sdkStream) sdkChunks.push(chunk);
        return null;
      } catch (err) {
        return err;
      }
    })();
    const unanswered = long('cut-unanswered', false, { stall_before_first_ms: 10_000 });
    // A family relayed event by event (Messages) ends with its own error frame (the simulator's Messages route has no
    // ignore_eos: its stream stalls after a few deltas instead, still open at the deadline).
    const messages = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'cut-messages' },
      body: JSON.stringify({ model: 'llama', max_tokens: 2000, messages: [{ role: 'user', content: 'never done' }], stream: true, sim_fault: { stall_after_chunks: 3 } }),
    });
    assert.equal(messages.status, 200);
    // The stream is flowing before the drain begins.
    await eventually(() => sdkChunks.length >= 3);
    const closing = gw.close(300);

    // A clean end: text() rejects on a reset ("terminated"); it resolves only after the chunked terminator.
    const events = await readSse(raw);
    const last = JSON.parse(events.at(-1)!) as { error?: { message: string; type: string; code: string } };
    assert.equal(last.error?.code, 'shutting_down', events.at(-1));
    assert.equal(last.error?.type, 'server_error');
    assert.match(last.error!.message, /shutting down/);
    assert.ok(!events.includes('[DONE]'), 'a cut stream never looks complete');
    const relayed = events.filter((e) => e.includes('"choices"')).length;
    assert.ok(relayed > 3, `${relayed} chunks before the cut`);

    const sdkErr = (await sdkEnd) as Error | null;
    assert.ok(sdkErr instanceof OpenAI.APIError, `the SDK raised ${String(sdkErr)}`);
    assert.match(sdkErr.message, /shutting down/);

    const messageEvents = (await messages.text()).split('\n\n').filter((e) => e.trim() !== '');
    const deltas = messageEvents.filter((e) => e.startsWith('event: content_block_delta')).length;
    assert.match(messageEvents.at(-1)!, /^event: error\ndata: .*shutting down/);

    const refused = await unanswered;
    assert.equal(refused.status, 503);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'shutting_down');
    await closing;

    for (const id of ['cut-raw', 'cut-unanswered', 'cut-messages']) {
      const ctx = ended.find((c) => c.id === id);
      assert.equal(ctx?.status, 503, id);
      assert.equal(ctx?.outcome, 'upstream_error', id);
      assert.equal(ctx?.errorCode, 'shutting_down', id);
    }
    const db = new Database(join(dir, 'usage.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT request_id, status, error_code, prompt_tokens, completion_tokens FROM usage').all() as Array<{
        request_id: string;
        status: number;
        error_code: string;
        prompt_tokens: number;
        completion_tokens: number;
      }>;
      assert.equal(rows.length, 4);
      for (const r of rows) assert.deepEqual([r.status, r.error_code], [503, 'shutting_down'], r.request_id);
      const cut = rows.find((r) => r.request_id === 'cut-raw')!;
      // The tokens relayed before the cut are charged, as for any stream cut short.
      assert.ok(cut.completion_tokens >= relayed - 1, `charged ${cut.completion_tokens} for ${relayed} chunks`);
      assert.ok(cut.prompt_tokens > 0);
      const cutMessages = rows.find((r) => r.request_id === 'cut-messages')!;
      assert.ok(deltas > 0 && cutMessages.completion_tokens >= deltas, `charged ${cutMessages.completion_tokens} for ${deltas} deltas`);
      assert.ok(rows.find((r) => r.request_id === 'cut-unanswered')!.prompt_tokens > 0, 'the prompt the backend had is charged');
    } finally {
      db.close();
    }
  } finally {
    await sim!.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
