import { z } from 'zod';
import { parseBytes, parseDuration } from '../core/index.js';

/** A duration such as `250ms`, `2s`, `1m30s`, `10m`, `1h`, or milliseconds; parsed to milliseconds. */
export const duration = z.union([z.string(), z.number().nonnegative()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (!Number.isFinite(ms) || ms < 0) {
    ctx.addIssue({ code: 'custom', message: `expected a duration like 250ms, 2s, 1m30s or 10m, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return ms;
}).meta({ format: 'duration' }); // read by the config reference generator (scripts/config-reference.ts)

/** A size such as `16MiB`, `512KiB`, `16KiB`, or bytes; parsed to bytes. */
export const bytes = z.union([z.string(), z.number().int().positive()]).transform((v, ctx) => {
  const n = parseBytes(v);
  if (!Number.isFinite(n) || n <= 0) {
    ctx.addIssue({ code: 'custom', message: `expected a size like 16MiB, 512KiB or 1048576, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return n;
}).meta({ format: 'size' });
