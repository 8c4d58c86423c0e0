import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Gateway } from '../../src/server/index.js';
import { createRng } from '../../src/routing/rng.js';
import { startTestGateway } from '../helpers/harness.js';
import { sleep, SSE_HEAD, startScriptedBackend, type ScriptedBackend } from '../helpers/scripted-backend.js';

/**
 * The relay scans and writes together the upstream chunks that arrive in one event-loop turn (an engine writing
 * several events at once). What the client gets must not depend on that: the same upstream bytes delivered in one
 * turn, spread over many turns, or cut at arbitrary bytes, give the same response, and the same as the relay's
 * per-event edits (usage chunk removed, finish_reason mapped) applied one event at a time.
 */
const open: Array<{ close(): Promise<void> }> = [];
after(async () => {
  await Promise.all(open.map((o) => o.close()));
});

const event = (o: unknown): string => `data: ${JSON.stringify(o)}\n\n`;
const content = (text: string, finish: string | null = null) =>
  event({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: text }, finish_reason: finish }] });
const USAGE = event({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 5, completion_tokens: 40, total_tokens: 45 } });

/** An upstream stream of `n` content events (multi-byte text), an engine finish_reason, a usage chunk and [DONE]. */
function upstream(n: number, pad = 0): Buffer {
  let s = '';
  for (let i = 0; i < n; i++) s += content(`tök ${i} 世界 🙂${'x'.repeat(pad)}`);
  s += content('', 'eos_token') + USAGE + 'data: [DONE]\n\n';
  return Buffer.from(s, 'utf8');
}

/** What the client must get without asking for usage: the usage chunk removed, eos_token mapped, nothing else. */
function expected(n: number, pad = 0): string {
  let s = '';
  for (let i = 0; i < n; i++) s += content(`tök ${i} 世界 🙂${'x'.repeat(pad)}`);
  return (
    s +
    content('', 'eos_token').replace('"finish_reason":"eos_token"', '"finish_reason":"stop","native_finish_reason":"eos_token"') +
    'data: [DONE]\n\n'
  );
}

/** Cuts of the stream: at every event boundary, or at random bytes (inside events, inside UTF-8 sequences). */
function cuts(bytes: Buffer, how: 'events' | 'random', seed: number): Buffer[] {
  if (how === 'events') {
    const parts: Buffer[] = [];
    let from = 0;
    for (let at = bytes.indexOf('\n\n'); at !== -1; at = bytes.indexOf('\n\n', at + 2)) {
      parts.push(bytes.subarray(from, at + 2));
      from = at + 2;
    }
    return parts;
  }
  const rand = createRng(seed);
  const parts: Buffer[] = [];
  let from = 0;
  while (from < bytes.length) {
    const len = 1 + Math.floor(rand() * 300);
    parts.push(bytes.subarray(from, from + len));
    from += len;
  }
  return parts;
}

let backend: ScriptedBackend;
let gw: Gateway;
/** What the backend sends next: its pieces, and whether each goes in a turn of its own. */
let plan: { parts: Buffer[]; spread: boolean } = { parts: [], spread: false };

async function relay(parts: Buffer[], spread: boolean): Promise<string> {
  plan = { parts, spread };
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true }),
  });
  assert.equal(res.status, 200);
  return res.text();
}

describe('streams relayed whatever chunks arrive together', () => {
  test('start', async () => {
    backend = await startScriptedBackend(async (_req, res) => {
      const { parts, spread } = plan;
      res.writeHead(200, SSE_HEAD);
      for (const p of parts) {
        res.write(p);
        // A pause between writes puts each piece in a read of its own: the per-chunk path.
        if (spread) await sleep(1);
      }
      res.end();
    });
    gw = await startTestGateway([{ name: 'm', backends: [{ url: backend.url }], policy: 'round_robin' }], {
      sections: { routing: { scrape: { interval: 0 }, health: { probe_interval: 0 } } },
    });
    open.push({ close: () => gw.close(50) }, backend);
  });

  test('events written in one turn or one per turn give the same bytes, with the usage chunk removed and finish_reason mapped', async () => {
    const bytes = upstream(30);
    const together = await relay(cuts(bytes, 'events', 0), false);
    const apart = await relay(cuts(bytes, 'events', 0), true);
    assert.equal(together, expected(30));
    assert.equal(apart, together);
  });

  test('random byte cuts, together or apart, give the same bytes as whole events', async () => {
    const bytes = upstream(30);
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      assert.equal(await relay(cuts(bytes, 'random', seed), false), expected(30), `seed ${seed}, one turn`);
      assert.equal(await relay(cuts(bytes, 'random', seed), true), expected(30), `seed ${seed}, a turn per piece`);
    }
  });

  test("a turn's events reach the client as one HTTP chunk, also when the usage chunk is cut out of them and an event is edited", async () => {
    plan = { parts: [upstream(30)], spread: false };
    const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const { port } = new URL(gw.url);
    const socket = connect(Number(port), '127.0.0.1');
    let raw = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (raw += d));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    await closed;
    const head = raw.indexOf('\r\n\r\n');
    assert.match(raw.slice(0, head), /transfer-encoding: chunked/i);
    const chunks: string[] = [];
    for (let at = head + 4; ; ) {
      const eol = raw.indexOf('\r\n', at);
      const size = parseInt(raw.slice(at, eol), 16);
      if (size === 0) break;
      chunks.push(raw.slice(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
    assert.equal(Buffer.from(chunks.join(''), 'latin1').toString('utf8'), expected(30));
    assert.equal(chunks.length, 1, 'one write for the turn, not one per piece kept around the removed and edited events');
  });

  test('a burst larger than the relay holds at once (16 KiB) is relayed in pieces with the same bytes', async () => {
    const bytes = upstream(400, 300); // ~160 KB in one turn
    assert.ok(bytes.length > 2 * 64 * 1024);
    assert.equal(await relay(cuts(bytes, 'events', 0), false), expected(400, 300));
    assert.equal(await relay(cuts(bytes, 'random', 9), false), expected(400, 300));
  });
});
