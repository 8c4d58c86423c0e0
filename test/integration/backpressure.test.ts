import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startSim } from '../../src/sim/index.js';
import { startTestGateway } from '../helpers/harness.js';

test('a client that stops reading pauses the backend instead of filling the gateway memory', async () => {
  // ~200k chunks of ~200 bytes: far more than the socket buffers between the three processes' sockets can hold.
  const sim = await startSim({ port: 0, engine: 'fast', fastResponseTokens: 200_000 });
  const gw = await startTestGateway([{ name: 'big', backends: [{ url: sim.url, model: 'sim-llama-8b' }] }]);
  try {
    const body = JSON.stringify({ model: 'big', messages: [{ role: 'user', content: 'flood' }], stream: true });
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, resolve);
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(res.statusCode, 200);
    res.pause();
    const heapBefore = process.memoryUsage().heapUsed;
    await new Promise((r) => setTimeout(r, 1500));
    const entry = sim.log.entries.find((e) => e.rawBody.includes('flood'))!;
    assert.equal(entry.finished, false, 'the backend is held back while the client does not read');
    const grown = process.memoryUsage().heapUsed - heapBefore;
    assert.ok(grown < 20 * 1024 * 1024, `gateway heap grew by ${grown} bytes`);
    let bytes = 0;
    res.on('data', (c: Buffer) => (bytes += c.length));
    res.resume();
    await new Promise((r) => res.on('end', r));
    assert.ok(bytes > 20 * 1024 * 1024, `received ${bytes} bytes`);
  } finally {
    await gw.close(100);
    await sim.close();
  }
});
