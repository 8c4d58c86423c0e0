import { ResponseStore } from '../api/index.js';
import type { Config } from '../config/index.js';
import { createRedisBroadcast, type Broadcast } from '../state/index.js';

/**
 * The pipeline's store of Responses ids, shared with the fleet's other processes when there are any: the workers of
 * a host through the supervisor (the caller's channel), replicas through Redis pub/sub. Each entry is one small
 * message when a backend stores a response; nothing is sent per request otherwise.
 */
export function openSharedResponses(cfg: Config, given: Broadcast | null | undefined): { store: ResponseStore; close(): Promise<void> } {
  const store = new ResponseStore();
  let channel = given ?? null;
  if (!channel && cfg.state?.redis) channel = createRedisBroadcast({ url: cfg.state.redis, prefix: cfg.state.prefix, snapshotTtlMs: 1, topic: 'responses' });
  if (channel) store.share(channel);
  return { store, close: async () => channel?.close() };
}
