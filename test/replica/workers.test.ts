import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../helpers/harness.js';
import { startGatewayProc, tempConfig, type GatewayProc } from '../scale/proc.js';

/**
 * The exchange among the workers of one host, through the supervisor (no Redis): a real `infergate` process with two
 * workers. A worker never receives its own updates, so keys received on any worker came from its sibling through the
 * supervisor's relay; a worker restarted after SIGKILL starts from its sibling's picture.
 */
describe('routing state shared by the workers of one host', () => {
  let gw: GatewayProc;
  before(async () => {
    const { dir, file } = await tempConfig(() => ({
      server: { listen: '127.0.0.1:0', workers: 2, drain: '1s' },
      auth: 'none',
      sim: { replicas: 2, engine: 'fast' },
      usage: false,
      telemetry: { log_level: 'warn', metrics: true },
    }));
    gw = await startGatewayProc(dir, file);
  });
  after(() => gw.cleanup());

  /** /metrics of whichever worker takes a new connection. */
  async function page(): Promise<string> {
    const r = await fetch(`${gw.url}/metrics`, { headers: { connection: 'close' } });
    return r.text();
  }
  const value = (text: string, name: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.slice(name.length + 1)) : 0;
  };
  async function send(i: number): Promise<void> {
    const r = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', connection: 'close' },
      body: JSON.stringify({ model: 'sim-llama-8b', messages: [{ role: 'user', content: `Prefix ${i}: ${'a shared system prompt. '.repeat(40)}` }], max_tokens: 4 }),
    });
    assert.equal(r.status, 200);
    await r.text();
  }

  test('keys routed by one worker reach the other through the supervisor', async () => {
    assert.equal(gw.workers().length, 2);
    for (let i = 0; i < 8; i++) await send(i);
    await eventually(async () => value(await page(), 'infergate_routing_exchange_keys_received_total') > 0, 10_000, 50);
  });

  test('a worker restarted after SIGKILL starts from its sibling\'s picture', async () => {
    const [victim] = gw.workers();
    process.kill(victim!, 'SIGKILL');
    await eventually(() => gw.workers().length === 2 && !gw.workers().includes(victim!), 15_000, 50);
    await eventually(async () => value(await page(), 'infergate_routing_exchange_snapshot_keys') > 0, 15_000, 50);
  });
});
