/**
 * Routing's public face: model pool → ordered candidates. The gateway's api/ calls plan → begin → tracker events →
 * end; the policies, per-backend state and gateway queue behind it are the same code the discrete-event benchmark
 * (scripts/bench-routing.ts) runs.
 */
export type { AttemptFailure, AttemptTracker, BackendTarget, PolicyName, PoolSpec, RouteRequest, RoutingLogger } from './types.js';
export { createRouter, type BackendStats, type Router, type RouterOptions, type RouterStats } from './router.js';
export { routerSamples } from './router-metrics.js';
export type { ScrapeFailure } from './backend-monitor.js';
export type { EngineMetrics } from './state/engine-metrics.js';
export { ReplicaExchange, type ReplicaExchangeOptions, type ReplicaSink } from './replica/exchange.js';
export { RoutingCore, type RoutingCoreOptions, type Timers, type Waiter, type QueuedHandle } from './core.js';
export type { QueueOptions } from './gateway-queue.js';
export { createRetryBudget, type RetryBudget, type RetryBudgetOptions } from './retry-budget.js';
export { boundedSessionKey } from './prefix/session-key-cache.js';
export type { HealthOptions, HealthStatus, HealthTransition } from './health/health-state.js';
export { POLICIES, createTokenAware, type Policy, type TokenAwareOptions } from './policies/index.js';
export { DEFAULT_ENGINE_PROFILE, type EngineProfile } from './twin-model.js';
export { KvEventsSource, KV_EVENTS_STATES, type KvEventsState, type KvEventsSourceOptions } from './kv-events/source.js';
export { loadZeromq } from './kv-events/subscriber.js';
export { KV_TOKENIZERS, type KvTokenizerName } from './kv-events/token-keys.js';
