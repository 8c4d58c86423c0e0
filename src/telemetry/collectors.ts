import type { GaugeSample, MetricAggregator, MetricFamilyJson } from './types.js';

/**
 * Names and help for the scrape-time samples the other modules are expected to report through
 * `registerCollector`. Using them keeps one spelling across modules; other names are allowed (give `help`).
 */
export const COLLECTOR_METRICS = {
  infergate_backend_in_flight_requests: { type: 'gauge', help: 'Requests in flight to a backend. Labels: backend.' },
  infergate_backend_in_flight_tokens: {
    type: 'gauge',
    help: 'Tokens in flight on a backend: phase=prefill, uncached prompt tokens before their first token; phase=decode, output tokens still expected. Labels: backend, phase.',
  },
  // Every worker probes the same backends: summed, a healthy backend would read N. `max`: 1 while at least one worker
  // routes to it, so `== 0` means it is out of the whole host's pool (one worker's ejections show in ejections_total).
  infergate_backend_healthy: { type: 'gauge', help: '1 when the backend is routable, 0 while ejected or failing its probes. Labels: backend.', aggregator: 'max' },
  infergate_backend_ejections_total: { type: 'counter', help: 'Passive health ejections. Labels: backend.' },
  infergate_backend_scrape_age_seconds: {
    type: 'gauge',
    help: "Age of the last successful scrape of a backend's own /metrics (absent until one succeeds). Labels: backend.",
    // Every worker scrapes the same backend: an age is not additive. `max`, the stalest worker's view, is what a
    // staleness alert wants.
    aggregator: 'max',
  },
  infergate_backend_scrape_failures_total: {
    type: 'counter',
    help: "Failed scrapes of a backend's /metrics. Labels: backend, reason (missing: 404/405/501, backed off; status; timeout; connect).",
  },
  infergate_queue_depth: { type: 'gauge', help: "Requests waiting in the gateway's routing queue (token_aware holds them while every backend is saturated)." },
  infergate_in_flight_requests: { type: 'gauge', help: 'Requests being served by the gateway.' },
  infergate_usage_queue_length: { type: 'gauge', help: 'Usage rows waiting for the usage writer.' },
  infergate_usage_rows_dropped_total: { type: 'counter', help: 'Usage rows dropped because the writer queue was full.' },
  infergate_usage_sync_flushes_total: {
    type: 'counter',
    help: "Times the usage writer's queue was full and a request's end waited for the writer (backpressure; no row lost).",
  },
  infergate_usage_write_errors_total: { type: 'counter', help: 'Failed writes of usage batches or audit entries (kept queued and retried; the log says why).' },
  infergate_retry_budget_available: {
    type: 'gauge',
    help: 'Retries and fallbacks the fleet-wide retry budget would allow now (routing.retry_budget).',
    // One budget per process: the host's is the sum of its workers'.
  },
} as const satisfies Record<string, { type: 'gauge' | 'counter'; help: string; aggregator?: MetricAggregator }>;

export type CollectorMetricName = keyof typeof COLLECTOR_METRICS;

const CATALOGUE: ReadonlyMap<string, { type: string; help: string; aggregator?: MetricAggregator }> = new Map(Object.entries(COLLECTOR_METRICS));

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export interface CollectorSet {
  register(name: string, collect: () => readonly GaugeSample[]): () => void;
  /** Prometheus text for all collectors' samples; names in `reserved` (the registry's own) are skipped. */
  render(reserved: ReadonlySet<string>): string;
  /** The same samples as prom-client's `registry.getMetricsAsJSON()` records them, for a supervisor to merge. */
  json(reserved: ReadonlySet<string>): MetricFamilyJson[];
}

interface Family {
  help: string;
  type: string;
  aggregator: MetricAggregator;
  lines: string[];
  values: { labels: Record<string, string>; value: number }[];
}

export function createCollectorSet(warn: (msg: string, err?: unknown) => void): CollectorSet {
  const collectors = new Map<string, () => readonly GaugeSample[]>();
  // A broken sample is reported once per name, not on every scrape.
  const warned = new Set<string>();
  const warnOnce = (key: string, msg: string, err?: unknown): void => {
    if (warned.has(key)) return;
    warned.add(key);
    warn(msg, err);
  };

  function gather(reserved: ReadonlySet<string>): Map<string, Family> {
    const families = new Map<string, Family>();
    for (const [collectorName, collect] of collectors) {
      let samples: readonly GaugeSample[];
      try {
        samples = collect();
      } catch (err) {
        // One failing collector must not take the whole scrape down.
        warnOnce(`collector:${collectorName}`, `metrics collector "${collectorName}" threw; its samples are skipped`, err);
        continue;
      }
      for (const s of samples) {
        if (!METRIC_NAME.test(s.name) || reserved.has(s.name)) {
          warnOnce(`name:${s.name}`, `collector "${collectorName}" sample name "${s.name}" is invalid or taken; skipped`);
          continue;
        }
        const labels = formatLabels(s.labels);
        if (labels === null) {
          warnOnce(`labels:${s.name}`, `collector "${collectorName}" sample "${s.name}" has an invalid label name; skipped`);
          continue;
        }
        let family = families.get(s.name);
        if (family === undefined) {
          const known = CATALOGUE.get(s.name);
          family = {
            help: s.help ?? known?.help ?? 'infergate collector metric.',
            type: s.type ?? known?.type ?? 'gauge',
            aggregator: s.aggregator ?? known?.aggregator ?? 'sum',
            lines: [],
            values: [],
          };
          families.set(s.name, family);
        }
        family.lines.push(`${s.name}${labels.text} ${formatValue(s.value)}`);
        family.values.push({ labels: labels.record, value: s.value });
      }
    }
    return families;
  }

  function render(reserved: ReadonlySet<string>): string {
    const families = gather(reserved);
    let out = '';
    for (const [name, f] of families) {
      out += `# HELP ${name} ${escapeHelp(f.help)}\n# TYPE ${name} ${f.type}\n${f.lines.join('\n')}\n`;
    }
    return out;
  }

  return {
    register(name, collect) {
      collectors.set(name, collect);
      return () => {
        if (collectors.get(name) === collect) collectors.delete(name);
      };
    },
    render,
    json(reserved) {
      return [...gather(reserved)].map(([name, f]) => ({
        name,
        help: f.help,
        type: f.type,
        aggregator: f.aggregator,
        values: f.values,
      }));
    },
  };
}

function formatLabels(labels: GaugeSample['labels']): { text: string; record: Record<string, string> } | null {
  const record: Record<string, string> = {};
  if (labels === undefined) return { text: '', record };
  const parts: string[] = [];
  for (const [key, value] of Object.entries(labels)) {
    if (value === undefined) continue;
    if (!LABEL_NAME.test(key) || key.startsWith('__')) return null;
    parts.push(`${key}="${escapeLabelValue(value)}"`);
    record[key] = value;
  }
  return { text: parts.length === 0 ? '' : `{${parts.join(',')}}`, record };
}

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
