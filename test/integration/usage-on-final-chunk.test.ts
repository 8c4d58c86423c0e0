/**
 * A client that streams without `stream_options.include_usage` never sees usage, though the gateway asks the backend
 * for it. Most backends send it in a chunk of its own (`choices: []`), which the gateway drops; older llama.cpp puts it
 * on the final chunk that still carries a choice. That chunk reaches the client without its `usage` member, every
 * other byte of the stream unchanged, and the usage log keeps the backend's counts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { client, readSse, startSims, startTestGateway } from '../helpers/harness.js';
import { SSE_HEAD, startScriptedBackend, type ScriptedBackend } from '../helpers/scripted-backend.js';

interface Row {
  request_id: string;
  status: number;
  prompt_tokens: number;
  completion_tokens: number;
  token_source: string;
}

describe('usage on the final choice chunk of a stream that did not ask for usage', () => {
  let sim: SimServer;
  let scripted: ScriptedBackend;
  let gw: Gateway;
  let dir: string;
  const rows = (): Row[] => {
    gw.usage!.flush();
    const db = new Database(join(dir, 'usage.db'), { readonly: true });
    try {
      return db.prepare('SELECT request_id, status, prompt_tokens, completion_tokens, token_source FROM usage').all() as Row[];
    } finally {
      db.close();
    }
  };
  const rowOf = async (id: string): Promise<Row> => {
    for (let i = 0; i < 100; i++) {
      const r = rows().find((x) => x.request_id === id);
      if (r) return r;
      await new Promise((res) => setTimeout(res, 20));
    }
    throw new Error(`no usage row for ${id}`);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ig-usage-final-'));
    [sim] = (await startSims(1, { personality: 'llamacpp' })) as [SimServer];
    scripted = await startScriptedBackend((_req, res) => void res.end());
    gw = await startTestGateway(
      [
        { name: 'llama', backends: [{ url: sim.url, kind: 'llamacpp', model: 'sim-llama-8b' }] },
        { name: 'scripted', backends: [{ url: scripted.url, kind: 'llamacpp', model: 'm' }], retries: 0 },
      ],
      { sections: { usage: { sqlite: join(dir, 'usage.db'), flush_interval: '20ms' } } },
    );
  });
  after(async () => {
    await gw.close(100);
    await Promise.all([sim.close(), scripted.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('the simulator in this mode sends usage on its finish chunk and no usage-only chunk', async () => {
    const res = await fetch(`${sim.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'sim-llama-8b',
        messages: [{ role: 'user', content: 'usage on the last one' }],
        stream: true,
        stream_options: { include_usage: true },
        max_tokens: 12,
        ignore_eos: true,
        sim_fault: { usage_on_final_chunk: true },
      }),
    });
    const chunks = (await readSse(res)).filter((e) => e !== '[DONE]').map((e) => JSON.parse(e) as { choices: Array<{ finish_reason: string | null }>; usage?: unknown });
    const withUsage = chunks.filter((c) => c.usage);
    assert.equal(withUsage.length, 1);
    assert.equal(withUsage[0], chunks.at(-1));
    assert.equal(withUsage[0]!.choices.length, 1);
    assert.ok(withUsage[0]!.choices[0]!.finish_reason);
  });

  test('the client sees no usage, and the usage log has the backend counts', async () => {
    const stream = await client(gw).chat.completions.create(
      {
        model: 'llama',
        messages: [{ role: 'user', content: 'usage on the last one' }],
        stream: true,
        max_tokens: 12,
        ...({ ignore_eos: true, sim_fault: { usage_on_final_chunk: true } } as object),
      },
      { headers: { 'x-request-id': 'final-usage-sim' } },
    );
    let chunks = 0;
    let finish: string | null = null;
    for await (const chunk of stream) {
      chunks++;
      assert.equal('usage' in chunk, false, JSON.stringify(chunk));
      assert.ok(chunk.choices.length > 0);
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(finish, 'length', 'the final chunk still reached the client');
    assert.ok(chunks > 12);
    const row = await rowOf('final-usage-sim');
    assert.equal(row.status, 200);
    assert.equal(row.token_source, 'backend');
    assert.equal(row.completion_tokens, 12);
    assert.ok(row.prompt_tokens > 0);
  });

  test('only the chunk with usage is rewritten: every other byte passes through unchanged', async () => {
    const head = 'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi \\"usage\\": {}"},"finish_reason":null}]}\n\n';
    const middle = ': keep-alive\n\ndata: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"!"},"finish_reason":null}],"usage":null}\n\n';
    const finals = [
      // llama.cpp's order: usage among the last members, timings after it.
      [
        'data: {"choices":[{"finish_reason":"stop","index":0,"delta":{}}],"created":1,"id":"c1","model":"m","object":"chat.completion.chunk","usage":{"completion_tokens":2,"prompt_tokens":9,"total_tokens":11},"timings":{"predicted_n":2}}\n\n',
        'data: {"choices":[{"finish_reason":"stop","index":0,"delta":{}}],"created":1,"id":"c1","model":"m","object":"chat.completion.chunk","timings":{"predicted_n":2}}\n\n',
      ],
      // usage first, with spaces around the colon; a finish_reason the gateway maps (llama.cpp's "eos" is no OpenAI value)
      [
        'data: { "usage" : { "prompt_tokens": 9, "completion_tokens": 2 }, "choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
        'data: { "choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
      ],
      // usage last
      [
        'data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":{"prompt_tokens":9,"completion_tokens":2}}\n\n',
        'data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}\n\n',
      ],
      // the usage chunk itself, in spellings the quick `"choices":[]` check misses: dropped whole
      ['data: {"id":"c1","object":"chat.completion.chunk","usage":{"prompt_tokens":9,"completion_tokens":2}}\n\n', ''],
      ['data: {"choices" : [ ],"usage":{"prompt_tokens":9,"completion_tokens":2}}\n\n', ''],
    ] as const;
    for (const [i, [sent, expected]] of finals.entries()) {
      scripted.setScript((_req, res) => {
        res.writeHead(200, SSE_HEAD);
        res.end(head + middle + sent + 'data: [DONE]\n\n');
      });
      const res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': `final-usage-bytes-${i}` },
        body: JSON.stringify({ model: 'scripted', messages: [{ role: 'user', content: 'x' }], stream: true }),
      });
      assert.equal(await res.text(), head + middle + expected + 'data: [DONE]\n\n', `case ${i}`);
      const row = await rowOf(`final-usage-bytes-${i}`);
      assert.deepEqual([row.prompt_tokens, row.completion_tokens, row.token_source], [9, 2, 'backend'], `case ${i}`);
    }
  });

  test('a client that asked for usage gets the chunk as the backend sent it', async () => {
    const sent = 'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}\n\n';
    scripted.setScript((_req, res) => {
      res.writeHead(200, SSE_HEAD);
      res.end(sent + 'data: [DONE]\n\n');
    });
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'scripted', messages: [{ role: 'user', content: 'x' }], stream: true, stream_options: { include_usage: true } }),
    });
    assert.equal(await res.text(), sent + 'data: [DONE]\n\n');
  });
});
