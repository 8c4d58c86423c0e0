import { z } from 'zod';
import { duration } from './units.js';

/**
 * `server.workers`: worker processes sharing the listening port. `auto` follows the CPUs this process may use
 * (affinity, cpuset and the cgroup CPU quota); 1 (the default) runs the gateway in this one process, as before.
 */
export const workersSchema = z
  .union([z.literal('auto'), z.number().int().min(1).max(256)])
  .default(1)
  .describe('Worker processes sharing the listening port, under a supervisor that restarts them, fans out reloads and drains them. auto: the CPUs this process may use (affinity, cpuset, cgroup CPU quota); 1 runs the gateway in this one process.');

const redisUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'redis:' || u.protocol === 'rediss:';
    } catch {
      return false;
    }
  },
  { message: 'expected a redis:// or rediss:// URL such as redis://redis:6379' },
);

/**
 * `state.routing`: the replica exchange of routing state (issue 13). Over Redis among replicas when `state.redis` is
 * set, over the supervisor among the workers of one host otherwise; off in a single process without Redis.
 */
export const routingExchangeSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Share routed prefixes, in-flight load and session turns with the other replicas (Redis) or workers (supervisor), so each routes on the fleet\'s picture. Off: every replica routes on its own traffic only.'),
    interval: duration
      .refine((ms) => ms >= 10 && ms <= 1000, { message: 'expected between 10ms and 1s' })
      .default(50)
      .describe('How often each process publishes one batch of updates. A peer\'s picture lags by up to this plus the transport\'s delay.'),
    stale: duration
      .refine((ms) => ms >= 100, { message: 'expected at least 100ms' })
      .default(1000)
      .describe('A peer\'s in-flight load not refreshed for this long is dropped (the peer stopped or the channel broke). Prefix keys never expire by time: they age out of the twin like local ones.'),
    snapshot_interval: duration
      .refine((ms) => ms >= 500, { message: 'expected at least 500ms' })
      .default(5000)
      .describe('How often one replica (one per period across the fleet) writes the whole picture to Redis, for replicas that start; workers of a host ask a live peer instead.'),
  })
  .superRefine((r, ctx) => {
    if (r.stale < 2 * r.interval) ctx.addIssue({ code: 'custom', path: ['stale'], message: 'must be at least two intervals, or live peers\' load flickers out' });
  })
  .describe('Routing state shared across replicas and workers (see README, "Routing across replicas").');

/**
 * `state.usage`: the usage log shared across replicas (server/usage-sync.ts). Each replica ships its own rows to a
 * Redis stream and inserts every peer's into its own SQLite file, so `/admin/usage` and the CLI answer for the fleet.
 */
export const usageShareSchema = z
  .strictObject({
    share: z.boolean().default(true).describe('Ship this replica\'s usage rows to the other replicas through Redis and keep theirs in its own usage log, so /admin/usage and `infergate usage` answer for the whole fleet (each replica then writes every replica\'s rows: N times the writes for N replicas). Off: each replica\'s log is its own.'),
    interval: duration
      .refine((ms) => ms >= 10 && ms <= 10_000, { message: 'expected between 10ms and 10s' })
      .default(250)
      .describe('How often each replica ships the rows it committed since the last time and reads its peers\' new rows. Peers see a row about this long (plus usage.flush_interval) after its request ended.'),
    stream_max_age: duration
      .refine((ms) => ms >= 60_000, { message: 'expected at least 1m' })
      .default(3_600_000)
      .describe('Entries older than this are trimmed from the stream (<prefix>usage:rows). A replica that starts or comes back catches up on what the stream still holds; one away longer misses what was trimmed (logged as usage_sync_gap). After Redis lost its data every replica ships this much again.'),
    stream_max_len: z
      .number()
      .int()
      .min(1000)
      .default(200_000)
      .describe('At most about this many entries are kept in the stream (each holds up to 500 rows of one replica), a bound on Redis memory whatever the traffic.'),
  })
  .describe('Usage rows shared across replicas (see README, "Usage across replicas").');

/**
 * `state`: where limits, concurrency and quotas are shared. Without it they are exact within one host (the
 * supervisor is the authority among its workers); with `redis` they are exact across every replica using it.
 */
export const stateSchema = z
  .strictObject({
    /** Redis or Valkey shared by every replica (`redis://[:password@]host:port[/db]`, `rediss://` for TLS). */
    redis: redisUrl.optional().describe('Redis or Valkey shared by every replica (redis://[:password@]host:port[/db], rediss:// for TLS): limits, concurrency, quotas and leases are exact across all replicas using it. Absent: exact within one host (the supervisor is the authority among its workers).'),
    /** Prefix of the keys written to Redis, so several gateways (or environments) can share one server. */
    prefix: z.string().min(1).default('infergate:').describe('Prefix of every key written to Redis, so several gateways or environments can share one server.'),
    /** How often each process reports usage, returns spare capacity and renews its leases. */
    sync_interval: duration.refine((ms) => ms >= 10 && ms <= 5000, { message: 'expected between 10ms and 5s' }).default(100)
      .describe('How often each process reports usage, returns spare capacity and renews its leases (between 10ms and 5s).'),
    /** A process that has not renewed its leases for this long is presumed dead and its capacity reclaimed. */
    lease_ttl: duration.refine((ms) => ms >= 500, { message: 'expected at least 500ms' }).default(5000)
      .describe('A process that has not renewed its leases for this long is presumed dead and its capacity reclaimed; at least three sync intervals.'),
    /**
     * While Redis is unreachable: `share` enforces 1/`replicas` of every limit in each replica (the fleet as a whole
     * stays within the limit); `refuse` serves only what leases already held cover and answers 503 beyond it.
     */
    on_unreachable: z.enum(['share', 'refuse']).default('share').describe('While Redis is unreachable: share enforces 1/replicas of every limit in each replica (the fleet stays within the limit); refuse serves only what leases already held cover and answers 503 beyond it. Each transition is logged and counted.'),
    /** Replicas sharing the limits, for the `share` fallback. */
    replicas: z.number().int().min(1).max(10_000).default(2).describe('Replicas sharing the limits, for the share fallback while Redis is unreachable.'),
    routing: routingExchangeSchema.prefault({}),
    usage: usageShareSchema.prefault({}),
  })
  .superRefine((s, ctx) => {
    if (s.lease_ttl < 3 * s.sync_interval) ctx.addIssue({ code: 'custom', path: ['lease_ttl'], message: 'must be at least three sync intervals, or live processes lose their leases' });
  })
  .describe('Shared state for running several processes or replicas: limits, quotas and leases (Redis across hosts, the supervisor within one), routing state and usage rows (see README, "Scale-out").');

export type StateConfig = z.output<typeof stateSchema>;
