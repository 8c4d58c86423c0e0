import { z } from 'zod';
import { duration } from './units.js';

/**
 * `keys`: gateway-managed API keys (`Authorization: Bearer sk-ig-…`), kept in their own SQLite file. `false` (the
 * default) turns them off. Keys are stored only as HMAC-SHA256 hashes keyed with a server-side pepper, so the
 * database alone can neither reveal a key nor confirm a guess.
 */
export const keysObjectSchema = z
  .strictObject({
    /** The key store (SQLite, WAL). Every gateway process that opens the same file sees every change. */
    sqlite: z.string().min(1).describe('The key store (SQLite). Every gateway process that opens the same file sees every change within poll_interval. With the Redis store, keys found here are copied into Redis once, when Redis holds none.'),
    /** Where keys live: `auto` puts them on the replicas' Redis when `state.redis` is set (no common disk needed). */
    store: z
      .enum(['auto', 'sqlite'])
      .default('auto')
      .describe('auto: on the replicas\' Redis (state.redis) when one is configured, so replicas without a common disk share keys; otherwise, or with sqlite, in the sqlite file.'),
    /** Redis store: how long keys stay usable while Redis cannot be read (revocations made elsewhere are unseen). */
    max_stale: duration
      .default(1000)
      .describe('Redis store only: once Redis has not been read for this long, every gateway key is refused (503 api_keys_unavailable) until it is, since a revocation made through another replica could not be seen. JWTs are unaffected. Raising it trades the one-second revocation guarantee for availability during an outage.'),
    /** The pepper, at least 32 bytes (use `${ENV_VAR}`). Changing it invalidates every key. */
    pepper: z.string().optional().describe('The server-side pepper keys are hashed under (HMAC-SHA256), at least 32 bytes; use ${ENV_VAR}. Changing it invalidates every key.'),
    /** Or a file holding it (trailing whitespace ignored). */
    pepper_file: z.string().min(1).optional().describe('Or a file holding the pepper (trailing whitespace ignored).'),
    /** Create `pepper_file` with 32 random bytes (mode 0600) when it does not exist. */
    generate_if_missing: z.boolean().default(false).describe('Create pepper_file with 32 random bytes (mode 0600) when it does not exist.'),
    /** How often other processes' changes (revocations, new limits) are looked for; one cheap read when nothing changed. */
    poll_interval: duration.default(250).describe('How often changes made by other processes (revocations, new limits) are looked for: 10ms to 1s. One cheap read when nothing changed.'),
    /** How often last-used times are written (batched, off the request path). */
    last_used_flush: duration.default(5000).describe('How often last-used times are written, in one batch, off the request path.'),
    /** Verified keys remembered for the one-probe hot path; past it the oldest is verified again on its next use. */
    cache_size: z.number().int().min(0).max(10_000_000).default(100_000).describe('Verified keys remembered for the one-probe hot path; past it the oldest is verified again (one HMAC) on its next use.'),
  })
  .superRefine((k, ctx) => {
    if ((k.pepper === undefined) === (k.pepper_file === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'keys needs exactly one of pepper or pepper_file' });
    }
    if (k.pepper !== undefined && Buffer.byteLength(k.pepper) < 32) {
      ctx.addIssue({ code: 'custom', path: ['pepper'], message: 'the pepper must be at least 32 bytes' });
    }
    if (k.max_stale < 2 * k.poll_interval || k.max_stale > 3_600_000) {
      ctx.addIssue({ code: 'custom', path: ['max_stale'], message: 'max_stale must be at least two poll intervals and at most 1h' });
    }
    if (k.poll_interval < 10 || k.poll_interval > 1000) {
      ctx.addIssue({ code: 'custom', path: ['poll_interval'], message: 'poll_interval must be between 10ms and 1s (changes must reach every process within a second)' });
    }
  });

export const keysSectionSchema = z.union([z.literal(false), keysObjectSchema]);

export type KeysSection = z.output<typeof keysSectionSchema>;
export type KeysConfig = z.output<typeof keysObjectSchema>;
