import type { RuntimeConfig } from '../config/index.js';
import { KV_EVENTS_STATES, KvEventsSource, loadZeromq, type RoutingLogger } from '../routing/index.js';
import type { Telemetry } from '../telemetry/index.js';

export interface KvEventsWiring {
  /** Backend id → its source, for the routing core. */
  readonly sources: ReadonlyMap<string, KvEventsSource>;
  close(): void;
}

/**
 * One KV-events subscriber per backend with `kv_events` in the config at start (a reload that adds or changes one
 * takes effect at the next start), its state and counters on /metrics. Subscribing starts at once: each source first
 * replays what the engine's buffer holds, so a gateway that (re)starts mid-run routes on the engines' picture, not
 * blind. zeromq (a native addon, ~3 MB resident) is loaded here, at start, only when some backend has `kv_events`.
 */
export async function openKvEvents(rt: RuntimeConfig, options: { logger: RoutingLogger; telemetry: Telemetry; now: () => number }): Promise<KvEventsWiring | null> {
  const configured = [...rt.backends.values()].filter((b) => b.kvEvents);
  if (configured.length === 0) return null;
  const zmq = await loadZeromq();
  const sources = new Map<string, KvEventsSource>();
  for (const b of configured) {
    const kv = b.kvEvents;
    if (!kv || sources.has(b.id)) continue;
    sources.set(
      b.id,
      new KvEventsSource({
        zmq,
        backendId: b.id,
        endpoint: kv.endpoint,
        replayEndpoint: kv.replay_endpoint ?? null,
        topic: kv.topic,
        tokenizer: kv.tokenizer,
        staleMs: kv.stale,
        now: options.now,
        logger: options.logger,
      }),
    );
  }
  if (sources.size === 0) return null;
  for (const s of sources.values()) s.start();
  const unregister = options.telemetry.registerCollector('kv_events', () =>
    [...sources.values()].flatMap((s) => {
      const backend = { backend: s.backendId };
      const sub = s.subscriber.stats;
      const idx = s.index.stats;
      // With workers, each subscribes to the same engine: the state and the block count are per-worker copies of one
      // engine's picture, merged with `max` (never N times the blocks; a state reads 1 when some worker's source is in
      // it, so workers that disagree show two states at 1 rather than a 2). The counters are each subscription's own.
      return [
        ...KV_EVENTS_STATES.map((state) => ({ name: 'infergate_kv_events_state', labels: { ...backend, state }, value: s.state === state ? 1 : 0, aggregator: 'max' as const, help: 'The state of a backend\'s KV-event source (1 for the current one): only while live do routing\'s predictions come from the events; otherwise from the gateway\'s own picture.' })),
        { name: 'infergate_kv_events_blocks', labels: backend, value: s.index.size, aggregator: 'max' as const, help: 'Blocks the engine reports cached (stored and not removed), as this gateway has them.' },
        { name: 'infergate_kv_events_messages_total', labels: backend, value: sub.messages, type: 'counter' as const, help: 'KV-event messages received from the engine\'s publisher.' },
        { name: 'infergate_kv_events_bytes_total', labels: backend, value: sub.bytes, type: 'counter' as const, help: 'Payload bytes of KV-event messages received.' },
        { name: 'infergate_kv_events_replays_total', labels: backend, value: sub.replays, type: 'counter' as const, help: 'Replays asked of the engine (at start, and for each sequence gap).' },
        { name: 'infergate_kv_events_gaps_total', labels: backend, value: sub.gaps, type: 'counter' as const, help: 'Sequence gaps seen on the live stream.' },
        { name: 'infergate_kv_events_orphan_blocks_total', labels: backend, value: idx.orphans, type: 'counter' as const, help: 'Stored blocks whose parent was never seen, so they could not be keyed.' },
        { name: 'infergate_kv_events_probe_misses_total', labels: backend, value: s.stats.probeMisses, type: 'counter' as const, help: 'Prompts routed here whose first block never showed up in the events (a tokenizer or template mismatch when they persist).' },
      ];
    }),
  );
  return {
    sources,
    close() {
      unregister();
      for (const s of sources.values()) s.close();
    },
  };
}
