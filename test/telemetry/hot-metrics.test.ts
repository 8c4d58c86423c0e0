import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import type { RegistryContentType } from 'prom-client';
import { HotCounter, HotHistogram } from '../../src/telemetry/hot-metrics.js';

/**
 * The hot-path metrics must render exactly as prom-client's own Counter and Histogram would for the same updates:
 * both are fed the same sequence and the two registries' output is compared byte for byte.
 */

const BUCKETS = [0.005, 0.01, 0.025, 0.1, 1, 2.5];
const HIST_LABELS = ['op', 'model', 'error_type'] as const;
const COUNTER_LABELS = ['model', 'endpoint', 'status_class'] as const;
// Values Prometheus' text format must escape (backslash, quote, newline), an empty one and a non-ASCII one.
const LABEL_VALUES = ['chat', 'a"quoted"\\path', 'line\nbreak', '', 'modèle-ü', 'x,op:y'];

/** A small deterministic generator, so a failure reproduces. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function pair(contentType?: RegistryContentType) {
  const ref = new Registry<RegistryContentType>();
  const hot = new Registry<RegistryContentType>();
  if (contentType !== undefined) {
    ref.setContentType(contentType);
    hot.setContentType(contentType);
  }
  const help = 'Help with a \\ backslash and a\nnewline.';
  const refHist = new Histogram({ name: 'h_seconds', help, labelNames: HIST_LABELS, buckets: BUCKETS, registers: [ref] });
  const hotHist = new HotHistogram({ name: 'h_seconds', help, labelNames: HIST_LABELS, buckets: BUCKETS, registers: [hot] });
  const refCount = new Counter({ name: 'c_total', help, labelNames: COUNTER_LABELS, registers: [ref] });
  const hotCount = new HotCounter({ name: 'c_total', help, labelNames: COUNTER_LABELS, registers: [hot] });
  return {
    ref,
    hot,
    observe(labels: readonly string[], v: number) {
      refHist.labels(...labels).observe(v);
      hotHist.series(...labels).observe(v);
    },
    inc(labels: readonly string[]) {
      refCount.labels(...labels).inc();
      hotCount.series(...labels).inc();
    },
    touch(labels: readonly string[]) {
      refCount.labels(...labels).inc(0);
      hotCount.series(...labels).touch();
    },
  };
}

function feed(p: ReturnType<typeof pair>, seed: number, n: number): void {
  const r = rng(seed);
  const pick = () => LABEL_VALUES[Math.floor(r() * LABEL_VALUES.length)]!;
  // On the bounds, between them, above the last, zero, negative and tiny fractions (sums must add up identically).
  const special = [0, -0.5, 0.005, 0.01, 2.5, 3, 1e-9, 123.456];
  for (let i = 0; i < n; i++) {
    const v = r() < 0.3 ? special[Math.floor(r() * special.length)]! : r() * 3;
    p.observe([pick(), pick(), r() < 0.8 ? '' : pick()], v);
    if (r() < 0.5) p.inc([pick(), pick(), r() < 0.5 ? '2xx' : '5xx']);
  }
}

test('renders the same text as prom-client for the same observations (Prometheus format)', async () => {
  const p = pair();
  feed(p, 1, 2000);
  p.touch(['never', 'used', '4xx']);
  const expected = await p.ref.metrics();
  assert.match(expected, /h_seconds_bucket\{le="\+Inf",op="a\\"quoted\\"\\\\path"/);
  assert.equal(await p.hot.metrics(), expected);
});

test('renders the same text as prom-client in OpenMetrics format and with default labels', async () => {
  const p = pair('application/openmetrics-text; version=1.0.0; charset=utf-8');
  p.ref.setDefaultLabels({ instance: 'i-1' });
  p.hot.setDefaultLabels({ instance: 'i-1' });
  feed(p, 2, 500);
  assert.equal(await p.hot.metrics(), await p.ref.metrics());
  // The registry strips a counter's _total in place on every scrape; a second scrape must still agree.
  assert.equal(await p.hot.metrics(), await p.ref.metrics());
});

test('gives the same JSON as prom-client (getMetricsAsJSON, as cluster aggregation reads it)', async () => {
  const p = pair();
  feed(p, 3, 300);
  assert.deepEqual(await p.hot.getMetricsAsJSON(), await p.ref.getMetricsAsJSON());
});

test('resets as prom-client does: series vanish until they are updated again, held series stay usable', async () => {
  const p = pair();
  feed(p, 4, 300);
  p.ref.resetMetrics();
  p.hot.resetMetrics();
  assert.equal(await p.hot.metrics(), await p.ref.metrics());
  feed(p, 5, 50);
  assert.equal(await p.hot.metrics(), await p.ref.metrics());
});

test('lists an empty metric as prom-client does and refuses what prom-client refuses', async () => {
  const p = pair();
  assert.equal(await p.hot.metrics(), await p.ref.metrics());
  const h = new HotHistogram({ name: 'x_seconds', help: 'x', labelNames: ['a'], buckets: [1], registers: [] });
  assert.throws(() => h.series('a').observe(Number.NaN), TypeError);
  assert.throws(() => h.series('a').observe(Infinity), TypeError);
  assert.throws(() => h.series('a', 'b'), /label values/);
  assert.throws(() => new HotHistogram({ name: 'y', help: 'y', labelNames: ['le'], buckets: [1], registers: [] }), /reserved/);
  // The refused observation left nothing behind.
  const reg = new Registry();
  reg.registerMetric(h as never);
  assert.equal(await reg.metrics(), '# HELP x_seconds x\n# TYPE x_seconds histogram\n');
});
