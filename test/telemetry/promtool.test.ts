import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, silentLogger } from '../../src/server/index.js';
import { createTelemetry } from '../../src/telemetry/index.js';
import { closeAll, startSims } from '../helpers/harness.js';
import { lintExposition } from './promlint.js';

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;

/** A scrape with every family populated: process metrics on, traffic of each kind, limits and the usage log. */
async function scrape(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ig-promtool-'));
  const [sim] = await startSims(1);
  const gw = await startGateway({
    configText: JSON.stringify({
      auth: 'none',
      server: { listen: '127.0.0.1:0' },
      models: [{ name: 'llama', backends: [{ url: sim!.url, model: 'sim-llama-8b' }] }],
      limits: [{ match: { subject: '*' }, rpm: 2 }],
      usage: { sqlite: join(dir, 'usage.db') },
    }),
    logger: silentLogger,
    telemetry: createTelemetry({ tracing: false, log: { level: 'silent' }, processMetrics: true }),
    watch: false,
  });
  try {
    for (const stream of [false, true, false]) {
      const res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, stream }),
      });
      await res.text();
    }
    const res = await fetch(`${gw.url}/metrics`);
    assert.equal(res.status, 200);
    return await res.text();
  } finally {
    await closeAll(gw, sim);
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the /metrics scrape passes promtool check metrics (or the same rules in TypeScript without promtool)', async () => {
  const text = await scrape();
  assert.match(text, /^# TYPE nodejs_active_handles gauge$/m, 'process metrics are part of the scrape');
  assert.match(text, /^# TYPE infergate_requests_total counter$/m);
  assert.deepEqual(lintExposition(text), []);
  if (promtool) {
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(r.status, 0, `promtool check metrics:\n${r.stdout}${r.stderr}`);
  }
});

test('the TypeScript rules catch what promtool refuses', () => {
  const bad = [
    '# HELP a_total A gauge named like a counter.',
    '# TYPE a_total gauge',
    'a_total 1',
    '# HELP b_requests Requests.',
    '# TYPE b_requests counter',
    'b_requests 1',
    '# TYPE c_latency_ms histogram',
    'c_latency_ms_bucket{le="+Inf"} 1',
    'c_latency_ms_sum 1',
    'c_latency_ms_count 1',
    '# HELP d_wait_milliseconds Wait.',
    '# TYPE d_wait_milliseconds gauge',
    'd_wait_milliseconds 1',
    'e_untyped 1',
  ].join('\n');
  const found = lintExposition(bad).map((p) => `${p.metric}: ${p.problem}`);
  assert.ok(found.some((f) => f.startsWith('a_total: non-counter')));
  assert.ok(found.some((f) => f.startsWith('b_requests: counter metrics should have "_total"')));
  assert.ok(found.some((f) => f.startsWith('c_latency_ms: no help text')));
  assert.ok(found.some((f) => f.startsWith('c_latency_ms: metric names should not contain abbreviated units')));
  assert.ok(found.some((f) => f.startsWith('d_wait_milliseconds: use base unit "seconds"')));
  assert.ok(found.some((f) => f.startsWith('e_untyped: no TYPE line')));
  if (promtool) {
    const r = spawnSync('promtool', ['check', 'metrics'], { input: `${bad}\n`, encoding: 'utf8' });
    assert.notEqual(r.status, 0, 'promtool refuses the same scrape');
  }
});
