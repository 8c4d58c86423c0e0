import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import type { SimServer } from '../../src/sim/index.js';
import { createReadStream, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { client, eventually, readSse, startSims } from '../helpers/harness.js';
import { lastEnded, lastPost, startGovernedGateway, type GovernedGateway } from './helpers.js';

const RATE = 16_000;

/** A mono 16-bit PCM WAV header for `dataBytes` of samples. */
function wavHeader(dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(RATE, 24);
  h.writeUInt32LE(RATE * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** `seconds` of a 440 Hz tone. */
function wav(seconds: number): Buffer {
  const n = Math.round(seconds * RATE);
  const samples = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) samples.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / RATE)), i * 2);
  return Buffer.concat([wavHeader(samples.length), samples]);
}

/** A multipart upload of a large WAV generated chunk by chunk (never whole in memory), `model` before or after it. */
function largeUpload(totalMiB: number, modelFirst: boolean): { body: ReadableStream<Uint8Array>; contentType: string; length: number } {
  const boundary = 'test-boundary-7d3f';
  const dataBytes = totalMiB * 1024 * 1024;
  const model = `--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper\r\n`;
  const fileHead = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\nContent-Type: audio/wav\r\n\r\n`;
  const pre = Buffer.from((modelFirst ? model : '') + fileHead);
  const post = Buffer.from(`\r\n${modelFirst ? '' : model}--${boundary}--\r\n`);
  const chunk = Buffer.alloc(256 * 1024, 1);
  let sent = -2;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent === -2) c.enqueue(pre);
      else if (sent === -1) c.enqueue(wavHeader(dataBytes));
      else if (sent < dataBytes) c.enqueue(chunk.subarray(0, Math.min(chunk.length, dataBytes - sent)));
      else {
        c.enqueue(post);
        c.close();
      }
      sent = sent < 0 ? sent + 1 : sent + chunk.length;
    },
  });
  return { body, contentType: `multipart/form-data; boundary=${boundary}`, length: pre.length + 44 + dataBytes + post.length };
}

describe('audio transcriptions and translations', () => {
  let sim: SimServer;
  let g: GovernedGateway;
  let sdk: OpenAI;
  let token: string;

  before(async () => {
    sim = (await startSims(1, { model: 'whisper-large-v3' }))[0]!;
    g = await startGovernedGateway([{ name: 'whisper', backends: [{ url: sim.url, model: 'whisper-large-v3' }] }], {}, { body_limit: '512MiB' });
    token = await g.token('models:*');
    sdk = client(g.gw, { apiKey: token });
  });
  after(async () => {
    await g.close();
    await sim.close();
  });

  test('transcribes and translates a WAV sent through the official SDK, with the model name rewritten', async () => {
    const res = await sdk.audio.transcriptions.create({ file: await toFile(wav(1.5), 'hello.wav', { type: 'audio/wav' }), model: 'whisper' });
    assert.match(res.text, /^Transcribed 1\.50 seconds of audio/);
    // The simulator answers 404 to any model but its own, so a success shows `model` was rewritten in the form.
    assert.equal(lastPost(sim).path, '/v1/audio/transcriptions');
    const ctx = lastEnded(g, 'audio');
    assert.equal(ctx.status, 200);
    assert.equal(ctx.backendId, sim.url);

    const tr = await sdk.audio.translations.create({ model: 'whisper', file: await toFile(wav(0.5), 'hola.wav', { type: 'audio/wav' }) });
    assert.match(tr.text, /^Translated 0\.50 seconds/);
  });

  test("relays transcripts as text, SRT and a stream, with the backend's content type", async () => {
    const text = await sdk.audio.transcriptions.create({ model: 'whisper', file: await toFile(wav(0.25), 'x.wav'), response_format: 'text' });
    assert.match(String(text), /^Transcribed 0\.25 seconds/);
    const form = (extra: Record<string, string>) => {
      const f = new FormData();
      f.set('model', 'whisper');
      for (const [k, v] of Object.entries(extra)) f.set(k, v);
      f.set('file', new Blob([wav(2)], { type: 'audio/wav' }), 'two.wav');
      return f;
    };
    const srt = await fetch(`${g.gw.url}/v1/audio/transcriptions`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form({ response_format: 'srt' }) });
    assert.equal(srt.status, 200);
    assert.match(srt.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(await srt.text(), '1\n00:00:00,000 --> 00:00:02,000\nTranscribed 2.00 seconds of audio (64044 bytes).\n');

    const streamed = await fetch(`${g.gw.url}/v1/audio/transcriptions`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form({ stream: 'true' }) });
    assert.equal(streamed.status, 200);
    assert.match(streamed.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events = await readSse(streamed);
    assert.equal(events.at(-1), '[DONE]');
    const deltas = events.slice(0, -1).map((e) => JSON.parse(e) as { choices: Array<{ delta: { content?: string } }> });
    assert.equal(deltas.map((d) => d.choices[0]?.delta.content ?? '').join(''), 'Transcribed 2.00 seconds of audio (64044 bytes).');
    const ctx = lastEnded(g, 'audio');
    assert.equal(ctx.stream, true);
    assert.equal(ctx.usage?.source, 'backend');
    assert.equal(ctx.usage?.completionTokens, 7);
  });

  test('keeps the fields that follow the file when the body arrives in pieces split right after it', async () => {
    const boundary = 'split-test-boundary';
    const part = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
    const head = Buffer.from(`${part('model', 'whisper')}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n`);
    const audio = wav(0.5);
    // The first piece ends with the boundary line that follows the file: busboy has ended the file, not yet read on.
    const first = Buffer.concat([head, audio, Buffer.from(`\r\n--${boundary}\r\n`)]);
    const rest = Buffer.from(`Content-Disposition: form-data; name="response_format"\r\n\r\ntext\r\n${part('language', 'fr')}--${boundary}--\r\n`);
    const res = await new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
      const req = httpRequest(`${g.gw.url}/v1/audio/transcriptions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'transfer-encoding': 'chunked' },
      });
      req.on('response', (r) => {
        let text = '';
        r.setEncoding('utf8');
        r.on('data', (c: string) => (text += c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, type: String(r.headers['content-type'] ?? ''), text }));
      });
      req.on('error', reject);
      req.write(first);
      // Sent once the gateway has had time to start the backend upload with what it has.
      setTimeout(() => req.end(rest), 150);
    });
    assert.equal(res.status, 200, res.text);
    assert.match(res.type, /^text\/plain/, 'response_format=text reached the backend');
    assert.match(res.text, /^Transcribed 0\.50 seconds/);
  });

  test('the SDK streaming a file from disk keeps response_format (it sends the fields after the file)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'infergate-audio-'));
    try {
      const path = join(dir, 'clip.wav');
      await writeFile(path, wav(0.75));
      const text = await sdk.audio.transcriptions.create({ model: 'whisper', file: createReadStream(path), response_format: 'text', language: 'de' });
      assert.equal(typeof text, 'string');
      assert.match(String(text), /^Transcribed 0\.75 seconds/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  for (const modelFirst of [true, false]) {
    test(`streams a large upload to the backend with bounded memory (model ${modelFirst ? 'before' : 'after'} the file)`, async () => {
      const up = largeUpload(256, modelFirst);
      global.gc?.();
      const base = process.memoryUsage().rss;
      let peak = base;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
      try {
        const res = await fetch(`${g.gw.url}/v1/audio/transcriptions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': up.contentType, 'content-length': String(up.length) },
          body: up.body,
          duplex: 'half',
        } as RequestInit);
        assert.equal(res.status, 200, await res.clone().text());
        const body = (await res.json()) as { text: string; usage: { seconds: number } };
        assert.match(body.text, /\(268435500 bytes\)/);
        assert.equal(body.usage.seconds, Math.ceil((256 * 1024 * 1024) / (RATE * 2)));
      } finally {
        clearInterval(sampler);
      }
      const growthMiB = (peak - base) / 1024 / 1024;
      // 256 MiB pass through the client, the gateway and the simulator in this one process; buffering the file
      // anywhere would add at least that much. What remains is garbage not yet collected, bounded well below it.
      assert.ok(growthMiB < 128, `RSS grew by ${growthMiB.toFixed(1)} MiB while 256 MiB streamed`);
    });
  }

  test('clients that go away mid-upload leave no spooled file behind, and descriptors stop growing', async () => {
    const fds = () => readdirSync('/proc/self/fd').length;
    const spooled = () => readdirSync(tmpdir()).filter((f) => f.startsWith('infergate-upload-abort-'));
    const abortSome = async (batch: number) => {
      for (let i = 0; i < 6; i++) {
        const up = largeUpload(64, i % 2 === 0);
        const req = httpRequest(`${g.gw.url}/v1/audio/transcriptions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': up.contentType, 'content-length': String(up.length), 'x-request-id': `abort-${batch}-${i}` },
        });
        req.on('error', () => {});
        const reader = up.body.getReader();
        for (let sent = 0; sent < 8 * 1024 * 1024; ) {
          const { value } = await reader.read();
          sent += value!.length;
          if (!req.write(value)) await new Promise((r) => req.once('drain', r));
        }
        req.destroy();
      }
      await eventually(() => g.ended.filter((c) => c.id.startsWith(`abort-${batch}-`)).length === 6, 5000);
      await eventually(() => spooled().length === 0, 5000).catch(() => {
        throw new Error(`spooled files left: ${spooled().join(', ')}`);
      });
    };
    // The first batch may leave warm keep-alive connections to the backend in the pool; later batches reuse them.
    await abortSome(0);
    const settled = fds();
    for (let b = 1; b <= 3; b++) await abortSome(b);
    await eventually(() => fds() <= settled + 2, 5000).catch(() => {
      throw new Error(`descriptors grew from ${settled} to ${fds()} over three more batches of aborted uploads`);
    });
    assert.ok(g.ended.filter((c) => c.id.startsWith('abort-')).every((c) => c.status !== 200));
  });

  test('a streamed upload over the body limit is the caller\'s 413, never a backend failure that ejects it', async () => {
    const small = await startGovernedGateway([{ name: 'whisper', backends: [{ url: sim.url, model: 'whisper-large-v3' }] }], {}, { body_limit: '1MiB' });
    try {
      const t = await small.token('models:*');
      // Chunked, model before the file: the file is already flowing to the backend when the limit is passed.
      for (let i = 0; i < 5; i++) {
        const big = largeUpload(3, true);
        const res = await fetch(`${small.gw.url}/v1/audio/transcriptions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${t}`, 'content-type': big.contentType },
          body: big.body,
          duplex: 'half',
        } as RequestInit);
        const body = (await res.json()) as { error: { code: string } };
        assert.equal(res.status, 413, JSON.stringify(body));
        assert.equal(body.error.code, 'request_too_large');
      }
      const ready = (await (await fetch(`${small.gw.url}/readyz?model=whisper`)).json()) as { healthy_backends: number };
      assert.equal(ready.healthy_backends, 1, 'the backend was not held responsible');
      assert.ok(small.ended.filter((c) => c.endpoint === 'audio').every((c) => c.status === 413 && c.outcome === 'client_error'));
    } finally {
      await small.close();
    }
  });

  test('applies the body limit, scopes and the usage log to uploads', async () => {
    const small = await startGovernedGateway([{ name: 'whisper', backends: [{ url: sim.url, model: 'whisper-large-v3' }] }], {}, { body_limit: '1MiB' });
    try {
      const t = await small.token('models:*');
      const big = largeUpload(2, true);
      const res = await fetch(`${small.gw.url}/v1/audio/transcriptions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t}`, 'content-type': big.contentType, 'content-length': String(big.length) },
        body: big.body,
        duplex: 'half',
      } as RequestInit);
      assert.equal(res.status, 413);
      const wrongScope = client(small.gw, { apiKey: await small.token('models:whisper:chat', 'erin') });
      await assert.rejects(wrongScope.audio.transcriptions.create({ model: 'whisper', file: await toFile(wav(0.1), 'a.wav') }), OpenAI.PermissionDeniedError);
      const rightScope = client(small.gw, { apiKey: await small.token('models:whisper:audio', 'erin') });
      assert.match((await rightScope.audio.transcriptions.create({ model: 'whisper', file: await toFile(wav(0.1), 'a.wav') })).text, /Transcribed/);
      await assert.rejects(client(small.gw, { apiKey: 'nope' }).audio.transcriptions.create({ model: 'whisper', file: await toFile(wav(0.1), 'a.wav') }), OpenAI.AuthenticationError);
      const notMultipart = await fetch(`${small.gw.url}/v1/audio/transcriptions`, { method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: '{}' });
      assert.equal(notMultipart.status, 400);
      const rows = await (async () => {
        for (let i = 0; i < 100; i++) {
          const r = small.usageRows().filter((row) => row.subject === 'erin');
          if (r.length >= 2) return r;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return small.usageRows().filter((row) => row.subject === 'erin');
      })();
      assert.deepEqual(rows.map((r) => `${r.endpoint} ${r.status}`).sort(), ['audio 200', 'audio 403']);
    } finally {
      await small.close();
    }
  });
});
