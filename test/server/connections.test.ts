import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { Agent, request } from 'undici';
import { closeAll, eventually, startSims, startTestGateway } from '../helpers/harness.js';

const openDescriptors = () => readdirSync('/proc/self/fd').length;
const CHAT = JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });

test('idle connections beyond server.max_connections are refused, descriptors stay bounded and backends stay reachable', { skip: process.platform !== 'linux' }, async () => {
  const [sim] = await startSims(1);
  const cap = 20;
  const flood = 300;
  const gw = await startTestGateway([{ name: 'llama', backends: [{ url: sim!.url, model: 'sim-llama-8b' }] }], { server: { max_connections: cap } });
  // A client connection opened before the flood, kept alive across it.
  const agent = new Agent({ connections: 1, keepAliveTimeout: 60_000 });
  const sockets: Socket[] = [];
  try {
    const first = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', body: CHAT, headers: { 'content-type': 'application/json' }, dispatcher: agent });
    assert.equal(first.statusCode, 200);
    await first.body.text();
    const before = openDescriptors();
    let refused = 0;
    for (let i = 0; i < flood; i++) {
      const s = connect(gw.port, '127.0.0.1');
      sockets.push(s);
      s.on('error', () => {});
      // Never sends a byte. A connection over the cap is closed by the gateway on accept.
      s.on('close', () => refused++);
    }
    // Every connection beyond the cap is closed by the gateway (however busy the machine, it gets there).
    await eventually(() => refused >= flood - cap, 15_000);
    const grown = openDescriptors() - before;
    // Client ends of refused connections close; what stays is at most `cap` pairs (both ends live in this process).
    assert.ok(refused >= flood - cap, `refused ${refused} of ${flood}`);
    assert.ok(grown <= 2 * cap + 20, `descriptors grew by ${grown} for ${flood} idle connections (cap ${cap})`);
    // The gateway still reaches its backend: a request on the connection opened before the flood is served.
    const again = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', body: CHAT, headers: { 'content-type': 'application/json' }, dispatcher: agent });
    assert.equal(again.statusCode, 200);
    const body = (await again.body.json()) as { choices: unknown[] };
    assert.equal(body.choices.length, 1);
    // The refusals are visible on /metrics.
    const metrics = await request(`${gw.url}/metrics`, { dispatcher: agent });
    const text = await metrics.body.text();
    assert.match(text, /^infergate_connections_max 20$/m);
    const counted = Number(/^infergate_connections_refused_total (\d+)$/m.exec(text)?.[1]);
    assert.ok(counted >= flood - cap, `refusals counted: ${counted}`);
  } finally {
    for (const s of sockets) s.destroy();
    await agent.close();
    await closeAll(gw, sim);
  }
});
