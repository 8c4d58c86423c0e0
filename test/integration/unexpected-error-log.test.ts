import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRouter, type Router } from '../../src/routing/index.js';
import { createTelemetry } from '../../src/telemetry/index.js';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { startSims, startTestGateway } from '../helpers/harness.js';
import { createSink } from '../telemetry/fixtures.js';

/**
 * A bug (here in an embedder's own router, a supported extension point) reaches the client as a 500 in OpenAI's
 * envelope, and the operator as one JSON log line with the stack: a plain-text warning on stderr broke collectors
 * that parse every line as JSON.
 */
let sims: SimServer[];
let gw: Gateway;
const sink = createSink();

before(async () => {
  sims = await startSims(1);
  const real = createRouter({ probeIntervalMs: 0, scrapeIntervalMs: 0 });
  const buggy: Router = {
    ...real,
    plan: (pool, req, signal) => {
      if (req.sessionKey === 'bug') throw new TypeError('policy bug: cannot read properties of undefined');
      return real.plan(pool, req, signal);
    },
    begin: real.begin.bind(real),
    abandon: real.abandon.bind(real),
    isHealthy: real.isHealthy.bind(real),
    stats: real.stats.bind(real),
    setPools: real.setPools.bind(real),
    close: real.close.bind(real),
  };
  gw = await startTestGateway([{ name: 'sim-llama-8b', backends: [{ url: sims[0]!.url }] }], {
    router: buggy,
    telemetry: createTelemetry({ tracing: false, processMetrics: false, log: { level: 'info', destination: sink.stream } }),
  });
});
after(async () => {
  await gw.close(100);
  await Promise.all(sims.map((s) => s.close()));
});

test('an unexpected error is a 500 envelope for the client and a JSON error line with the stack for the operator', async () => {
  const warnings: unknown[] = [];
  const onWarning = (w: unknown) => warnings.push(w);
  process.on('warning', onWarning);
  try {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-session-id': 'bug' },
      body: JSON.stringify({ model: 'sim-llama-8b', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(res.status, 500);
    const body = (await res.json()) as { error: { type: string; message: string } };
    assert.equal(body.error.type, 'server_error');
    assert.doesNotMatch(body.error.message, /policy bug/, 'the stack stays in the log');
    const requestId = res.headers.get('x-request-id');
    await new Promise((r) => setTimeout(r, 50));
    const lines = sink.lines.flatMap((l) => l.split('\n')).filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    const line = lines.find((l) => l.event === 'unexpected_error');
    assert.ok(line, `no unexpected_error line in ${JSON.stringify(lines)}`);
    assert.equal(line.level, 50);
    assert.equal(line.request_id, requestId);
    const err = line.err as { type: string; message: string; stack: string };
    assert.equal(err.type, 'TypeError');
    assert.match(err.stack, /policy bug/);
    assert.equal(warnings.length, 0, 'nothing in plain text on stderr');
  } finally {
    process.off('warning', onWarning);
  }
});
