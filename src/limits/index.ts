export { createLimiter, refusalKindOf, type RefusalKind, type Limiter, type LocalLimiter, type LimiterOptions, type Reservation, type ReserveRequest } from './limiter.js';
export { createLeasedLimiter, type LeasedLimiterOptions } from './leased-limiter.js';
export { compileLimitRules, type CompiledLimits, type CompiledLimitRule, type CompiledQuotaRule, type LimitSubject } from './rules.js';
export { createMemoryLimitStore, type LimitStore, type MemoryLimitStoreOptions } from './memory-store.js';
export { createMemoryQuotaStore, type QuotaStore } from './quota-store.js';
export { createSqliteQuotaStore, type SqliteQuotaStoreOptions } from './sqlite-quota-store.js';
export { quotaWindow, type QuotaPeriod, type QuotaWindow } from './quota-windows.js';
export type { BucketState } from './bucket.js';
export type { LimitSnapshot, BucketSnapshot, QuotaSnapshot, SnapshotFilter, Level } from './snapshot.js';
