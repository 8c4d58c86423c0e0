export type { CounterKind, CounterSpec, ExchangeItem, ExchangeReply, Transport } from './types.js';
export { createMemoryAuthority, type MemoryAuthority, type MemoryAuthorityOptions, type QuotaLedger, type CounterView } from './authority.js';
export { LeaseCounter } from './lease-counter.js';
export { createLeaseClient, type LeaseClient, type LeaseClientOptions, type LeaseMode } from './lease-client.js';
export { createRedisTransport, type RedisTransportOptions } from './redis-transport.js';
export { createIpcTransport, serveLeases, type IpcPort } from './ipc-transport.js';
export { newBroadcastStats, type Broadcast } from './broadcast.js';
export { createRedisBroadcast, type RedisBroadcastOptions } from './redis-broadcast.js';
export { createIpcBroadcast, createBroadcastHub } from './ipc-broadcast.js';
