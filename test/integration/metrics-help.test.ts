import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTelemetry } from '../../src/telemetry/index.js';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { client, closeAll, startSims, startTestGateway } from '../helpers/harness.js';

/** Every family on /metrics says what it measures: an operator reading a dashboard at 3 a.m. gets no placeholder. */
let sim: SimServer;
let gw: Gateway;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ig-metrics-help-'));
  [sim] = (await startSims(1)) as [SimServer];
  gw = await startTestGateway([{ name: 'llama', backends: [{ url: sim.url, model: 'sim-llama-8b' }] }], {
    sections: { usage: { sqlite: join(dir, 'usage.db') }, limits: [{ match: { subject: '*' }, rpm: 1000 }] },
    telemetry: createTelemetry({ tracing: false, log: { level: 'silent' }, processMetrics: false }),
  });
});
after(async () => {
  await closeAll(gw, sim);
  rmSync(dir, { recursive: true, force: true });
});

test('every metric family on /metrics has its own help text', async () => {
  await client(gw).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const helps = text.split('\n').filter((l) => l.startsWith('# HELP '));
  assert.ok(helps.length > 20, `only ${helps.length} families`);
  const vague = helps.filter((l) => / infergate collector metric\.$/.test(l) || /^# HELP \S+ ?$/.test(l));
  assert.deepEqual(vague, []);
  assert.ok(helps.some((l) => l.startsWith('# HELP infergate_retry_budget_available ')));
});
