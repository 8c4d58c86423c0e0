import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { mergeClusterMetrics } from '../../src/telemetry/cluster-metrics.js';
import { createCollectorSet } from '../../src/telemetry/collectors.js';
import { HotCounter, HotHistogram } from '../../src/telemetry/hot-metrics.js';
import type { MetricFamilyJson } from '../../src/telemetry/types.js';

/** One worker's families, as it hands them to its supervisor (registry JSON and the collectors' JSON). */
async function worker(requests: number, healthy: number, shared: number): Promise<MetricFamilyJson[]> {
  const registry = new Registry();
  const c = new HotCounter({ name: 'x_requests_total', help: 'r', labelNames: ['model'], registers: [registry] });
  const h = new HotHistogram({ name: 'x_duration_seconds', help: 'd', labelNames: ['model'], buckets: [0.1, 1], registers: [registry] });
  for (let i = 0; i < requests; i++) {
    c.series('m').inc();
    h.series('m').observe(0.5);
  }
  const collectors = createCollectorSet(() => {});
  collectors.register('t', () => [
    { name: 'infergate_backend_healthy', labels: { backend: 'b' }, value: healthy },
    { name: 'infergate_in_flight_requests', value: 2 },
    { name: 'x_shared', value: shared, aggregator: 'min' },
  ]);
  return [...((await registry.getMetricsAsJSON()) as unknown as MetricFamilyJson[]), ...collectors.json(new Set())];
}

test('the supervisor merges workers by each family\'s aggregator: sums what each counts, not what each copies', async () => {
  const text = await mergeClusterMetrics([await worker(3, 1, 1), await worker(5, 0, 0)], ['infergate: a note']);
  assert.match(text, /^# infergate: a note\n/);
  assert.match(text, /^x_requests_total\{model="m"\} 8$/m);
  assert.match(text, /^x_duration_seconds_bucket\{.*le="1".*\} 8$/m);
  assert.match(text, /^x_duration_seconds_count\{model="m"\} 8$/m);
  assert.match(text, /^x_duration_seconds_sum\{model="m"\} 4$/m);
  assert.match(text, /^infergate_in_flight_requests 4$/m);
  // Copies: the catalogue's `max` for backend health, the sample's own `min` for a mode gauge.
  assert.match(text, /^infergate_backend_healthy\{backend="b"\} 1$/m);
  assert.match(text, /^x_shared 0$/m);
  assert.match(text, /^# TYPE infergate_backend_healthy gauge$/m);
});

test('a single process renders its collectors as before (the JSON form is extra)', () => {
  const collectors = createCollectorSet(() => {});
  collectors.register('t', () => [{ name: 'infergate_backend_healthy', labels: { backend: 'b' }, value: 1, aggregator: 'max' }]);
  assert.equal(collectors.render(new Set()), '# HELP infergate_backend_healthy 1 when the backend is routable, 0 while ejected or failing its probes. Labels: backend.\n# TYPE infergate_backend_healthy gauge\ninfergate_backend_healthy{backend="b"} 1\n');
});
