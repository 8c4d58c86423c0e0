import { AggregatorRegistry, Registry } from 'prom-client';
import type { MetricFamilyJson } from './types.js';

/**
 * The metrics of a host with several processes (`server.workers` > 1), on prom-client's cluster machinery
 * (lib/cluster.js): each worker registers its registries with `AggregatorRegistry.setRegistries` and answers its
 * supervisor's `prom-client:getMetricsReq` with their `getMetricsAsJSON()`; the supervisor merges the answers with
 * `AggregatorRegistry.aggregate`, each family by its own `aggregator` (sum unless the metric says otherwise).
 *
 * The supervisor does not use `clusterMetrics()` itself: it waits 5 s and then rejects with nothing, so one stuck worker
 * would blank every scrape; server/cluster-metrics.ts sends the same request and merges whatever came back in time.
 * Nor may the supervisor construct an AggregatorRegistry: that adds prom-client's primary-side listener, which throws
 * on answers to requests it did not send.
 */
export const CLUSTER_METRICS_REQUEST = 'prom-client:getMetricsReq';
export const CLUSTER_METRICS_RESPONSE = 'prom-client:getMetricsRes';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A registry whose JSON is produced at call time (the scrape-time collectors, which never live in a Registry). */
class JsonRegistry extends Registry {
  constructor(private readonly produce: () => MetricFamilyJson[]) {
    super();
  }

  override getMetricsAsJSON(): ReturnType<Registry['getMetricsAsJSON']> {
    return Promise.resolve(this.produce() as unknown as Awaited<ReturnType<Registry['getMetricsAsJSON']>>);
  }
}

/**
 * Worker side: from now on this process answers its supervisor's collection requests with these registries and the
 * collectors' samples. prom-client keeps one list per process: the last call wins.
 */
export function answerClusterCollections(registries: readonly Registry[], collectors: () => MetricFamilyJson[]): void {
  // The constructor adds prom-client's listener (once per process): in a worker, the one that answers the requests.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([...registries, new JsonRegistry(collectors)]);
}

/**
 * Supervisor side: the host's metrics from each process's families, merged by prom-client. `notes` become comment
 * lines at the top (a worker that did not answer), which Prometheus ignores and a human reading the text does not.
 */
export async function mergeClusterMetrics(parts: readonly (readonly MetricFamilyJson[])[], notes: readonly string[] = []): Promise<string> {
  const merged = AggregatorRegistry.aggregate(parts as unknown as object[]);
  const text = await merged.metrics();
  return notes.map((n) => `# ${n.replace(/\n/g, ' ')}\n`).join('') + text;
}
