import type { Worker } from 'node:cluster';
import {
  CLUSTER_METRICS_REQUEST,
  CLUSTER_METRICS_RESPONSE,
  PROMETHEUS_CONTENT_TYPE,
  mergeClusterMetrics,
  type MetricFamilyJson,
  type Telemetry,
} from '../telemetry/index.js';
import type { Logger } from './logger.js';

/**
 * `/metrics` with `server.workers` > 1: whichever worker the scrape lands on asks the supervisor, which collects every
 * ready worker's metrics (prom-client's cluster request, answered by prom-client in each worker), merges them with
 * prom-client's AggregatorRegistry and hands the text back. Per scrape only: nothing is added to the request path, and
 * a single process (no cluster) never comes here.
 */

/** How long the supervisor waits for the workers' answers; what came back by then is merged and served. */
export const COLLECT_TIMEOUT_MS = 2000;
/** How long a worker waits for its supervisor before it serves its own metrics (with a comment saying so). */
export const ASK_TIMEOUT_MS = COLLECT_TIMEOUT_MS + 1500;

interface Collection {
  waiting: Set<number>;
  parts: MetricFamilyJson[][];
  /** Workers that answered with an error rather than their metrics. */
  failed: number[];
  done: () => void;
}

export interface MetricsCollector {
  /** The supervisor's handler for a worker's messages: true when the message was one of these. */
  onMessage(w: Worker, m: unknown): boolean;
  /** A worker exited: a collection stops waiting for it. */
  onExit(w: Worker): void;
}

export function createMetricsCollector(opts: { workers: () => Worker[]; logger: Logger; timeoutMs?: number }): MetricsCollector {
  const timeoutMs = opts.timeoutMs ?? COLLECT_TIMEOUT_MS;
  const collections = new Map<number, Collection>();
  let nextId = 0;

  async function collect(): Promise<string> {
    const id = nextId++;
    const workers = opts.workers().filter((w) => w.isConnected());
    const c: Collection = { waiting: new Set(workers.map((w) => w.id)), parts: [], failed: [], done: () => {} };
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => c.done(), timeoutMs);
      c.done = () => {
        clearTimeout(timer);
        collections.delete(id);
        resolve();
      };
      collections.set(id, c);
      for (const w of workers) w.send({ type: CLUSTER_METRICS_REQUEST, requestId: id }, () => {});
      if (c.waiting.size === 0) c.done();
    });
    const notes: string[] = [];
    if (c.waiting.size > 0) {
      const missing = [...c.waiting].join(', ');
      notes.push(`infergate: worker ${missing} did not answer within ${timeoutMs} ms: this scrape lacks its metrics (${workers.length - c.waiting.size} of ${workers.length} workers merged)`);
      opts.logger.warn({ event: 'metrics_collect_incomplete', missing: [...c.waiting], workers: workers.length }, 'a worker did not answer the metrics collection in time');
    }
    if (c.failed.length > 0) notes.push(`infergate: worker ${c.failed.join(', ')} failed to render its metrics: this scrape lacks them`);
    return mergeClusterMetrics(c.parts, notes);
  }

  return {
    onMessage(w, m) {
      if (typeof m !== 'object' || m === null) return false;
      const msg = m as { ig?: string; id?: unknown; type?: string; requestId?: unknown; metrics?: unknown; error?: unknown };
      if (msg.type === CLUSTER_METRICS_RESPONSE) {
        const c = typeof msg.requestId === 'number' ? collections.get(msg.requestId) : undefined;
        // A late answer (its collection timed out) is dropped.
        if (!c || !c.waiting.delete(w.id)) return true;
        if (Array.isArray(msg.metrics)) {
          for (const reg of msg.metrics) if (Array.isArray(reg)) c.parts.push(reg as MetricFamilyJson[]);
        } else {
          c.failed.push(w.id);
          opts.logger.warn({ event: 'metrics_collect_failed', worker: w.id, err: String(msg.error) }, 'a worker failed to render its metrics');
        }
        if (c.waiting.size === 0) c.done();
        return true;
      }
      if (msg.ig !== 'metrics-request' || typeof msg.id !== 'number') return false;
      const id = msg.id;
      collect().then(
        (body) => w.isConnected() && w.send({ ig: 'metrics', id, body }, () => {}),
        (err: unknown) => w.isConnected() && w.send({ ig: 'metrics', id, error: String(err) }, () => {}),
      );
      return true;
    },
    onExit(w) {
      for (const c of collections.values()) if (c.waiting.delete(w.id) && c.waiting.size === 0) c.done();
    },
  };
}

type Port = { send(m: unknown, cb?: (err: Error | null) => void): boolean; on(ev: 'message', f: (m: unknown) => void): unknown };

/**
 * Worker side: `/metrics` answers for the host. Should the supervisor not answer in time (or fail), the scrape gets
 * this worker's own metrics under a comment line saying so, never an error that blanks the dashboard.
 */
export function joinClusterMetrics(telemetry: Telemetry, port: Port, timeoutMs = ASK_TIMEOUT_MS): void {
  const pending = new Map<number, (r: { body?: string; error?: string }) => void>();
  let nextId = 0;
  port.on('message', (m: unknown) => {
    const msg = m as { ig?: string; id?: unknown; body?: unknown; error?: unknown };
    if (msg?.ig !== 'metrics' || typeof msg.id !== 'number') return;
    pending.get(msg.id)?.({ body: typeof msg.body === 'string' ? msg.body : undefined, error: msg.error === undefined ? undefined : String(msg.error) });
  });
  const ask = (): Promise<{ body?: string; error?: string }> =>
    new Promise((resolve) => {
      const id = nextId++;
      const timer = setTimeout(() => finish({ error: `the supervisor did not answer within ${timeoutMs} ms` }), timeoutMs);
      const finish = (r: { body?: string; error?: string }) => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(r);
      };
      pending.set(id, finish);
      try {
        port.send({ ig: 'metrics-request', id }, (err) => err && finish({ error: `asking the supervisor failed: ${err.message}` }));
      } catch (err) {
        finish({ error: `asking the supervisor failed: ${String(err)}` });
      }
    });
  telemetry.joinCluster(async () => {
    const r = await ask();
    if (r.body !== undefined) return { contentType: PROMETHEUS_CONTENT_TYPE, body: r.body };
    const own = await telemetry.renderLocalMetrics();
    return { contentType: own.contentType, body: `# infergate: ${r.error ?? 'no answer'}; these are the metrics of worker process ${process.pid} only\n${own.body}` };
  });
}
