import type { Metric, Registry, RegistryContentType } from 'prom-client';

/**
 * A counter and a histogram for the series every request touches, kept as plain numbers per pre-resolved label set
 * and handed to prom-client's Registry only at scrape time.
 *
 * Why not prom-client's own classes: a bound child (`histogram.labels(...).observe(v)`) still converts, validates and
 * hashes its label object on every call (~1.5 µs and ~0.2 KB per observe, five to six per request). Here a request
 * does a bucket search and three additions on a series object it already holds.
 *
 * The exposition stays prom-client's: the Registry duck-types its metrics (`name`, `help`, `type`, `aggregator`,
 * `get()`, optional `getForPromString()`, `reset()`; prom-client 15 lib/registry.js), and these objects return the
 * same value records as prom-client's Counter and Histogram (lib/counter.js `get`, lib/histogram.js
 * `getForPromString`), so the Registry formats, escapes and orders the text exactly as it does for its own metrics.
 * test/telemetry/hot-metrics.test.ts compares the two byte for byte.
 */

interface ValueRecord {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
  sharedLabels?: Record<string, string>;
  exemplar?: null;
}

interface MetricData {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values: ValueRecord[];
  aggregator: 'sum';
}

interface HotOptions {
  name: string;
  help: string;
  labelNames: readonly string[];
  registers: readonly Registry<RegistryContentType>[];
}

/** Label sets are created once per distinct value tuple; `series()` is for set-up paths, not the per-request one. */
abstract class HotMetric<S extends { readonly labels: Record<string, string>; listed: boolean }> {
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly aggregator = 'sum' as const;
  abstract readonly type: 'counter' | 'histogram';
  /** Writable: an OpenMetrics registry strips a counter's `_total` in place, as it does for prom-client's own. */
  name: string;
  /** Series in the order of their first update since the last reset: prom-client lists them in that order. */
  protected listed: S[] = [];
  readonly #byKey = new Map<string, S>();

  constructor(options: HotOptions) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    // The Registry's TypeScript signature names prom-client's classes; at run time it accepts any object with the
    // interface described above.
    for (const r of options.registers) r.registerMetric(this as unknown as Metric);
  }

  /** The series for these label values (in `labelNames` order), created on first use. */
  series(...values: string[]): S {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name}: ${values.length} label values for ${this.labelNames.length} label names`);
    }
    const key = values.join('\u0000');
    let s = this.#byKey.get(key);
    if (s === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i]!));
      s = this.create(labels);
      this.#byKey.set(key, s);
    }
    return s;
  }

  protected abstract create(labels: Record<string, string>): S;
  protected abstract zero(s: S): void;

  /** Called by a series on its first update after creation or a reset. */
  list(s: S): void {
    s.listed = true;
    this.listed.push(s);
  }

  /** As prom-client's: every series disappears from the exposition until it is updated again. */
  reset(): void {
    for (const s of this.listed) {
      s.listed = false;
      this.zero(s);
    }
    this.listed = [];
  }
}

export class HotCounterSeries {
  value = 0;
  listed = false;
  constructor(
    readonly labels: Record<string, string>,
    private readonly owner: HotCounter,
  ) {}

  inc(): void {
    if (!this.listed) this.owner.list(this);
    this.value += 1;
  }

  /** Lists the series at 0, so it reads 0 rather than being absent (prom-client's `inc(0)`). */
  touch(): void {
    if (!this.listed) this.owner.list(this);
  }
}

export class HotCounter extends HotMetric<HotCounterSeries> {
  readonly type = 'counter' as const;

  protected create(labels: Record<string, string>): HotCounterSeries {
    return new HotCounterSeries(labels, this);
  }

  protected zero(s: HotCounterSeries): void {
    s.value = 0;
  }

  get(): Promise<MetricData> {
    const values = this.listed.map((s) => ({ value: s.value, labels: s.labels }));
    return Promise.resolve({ help: this.help, name: this.name, type: this.type, values, aggregator: this.aggregator });
  }
}

export class HotHistogramSeries {
  /** Per-bucket (not cumulative) counts; a value above the last bound is only in `count` and `sum`. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  listed = false;
  constructor(
    readonly labels: Record<string, string>,
    private readonly owner: HotHistogram,
  ) {
    this.counts = new Float64Array(owner.bounds.length);
  }

  observe(value: number): void {
    // prom-client refuses these too; the caller isolates telemetry failures from the request.
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    if (!this.listed) this.owner.list(this);
    const bounds = this.owner.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.counts[i]! += 1;
        break;
      }
    }
    this.sum += value;
    this.count += 1;
  }
}

export class HotHistogram extends HotMetric<HotHistogramSeries> {
  readonly type = 'histogram' as const;
  readonly bounds: readonly number[];

  constructor(options: HotOptions & { buckets: readonly number[] }) {
    super(options);
    for (const name of options.labelNames) if (name === 'le') throw new Error('le is a reserved label keyword');
    this.bounds = Object.freeze([...options.buckets]);
  }

  protected create(labels: Record<string, string>): HotHistogramSeries {
    return new HotHistogramSeries(labels, this);
  }

  protected zero(s: HotHistogramSeries): void {
    s.counts.fill(0);
    s.sum = 0;
    s.count = 0;
  }

  /** What the Registry renders from: the bucket label apart, each series' labels shared by its lines. */
  getForPromString(): Promise<MetricData> {
    const bucket = `${this.name}_bucket`;
    const values: ValueRecord[] = [];
    for (const s of this.listed) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i]!;
        values.push({ labels: { le: this.bounds[i]! }, sharedLabels: s.labels, value: acc, metricName: bucket, exemplar: null });
      }
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucket, exemplar: null },
        { labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count`, exemplar: undefined },
      );
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  /** The JSON form (`registry.getMetricsAsJSON()`): each value's labels include its series' labels. */
  async get(): Promise<MetricData> {
    const data = await this.getForPromString();
    data.values = data.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } }));
    return data;
  }
}
