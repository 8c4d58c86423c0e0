import type { FleetSnapshot } from './wire.js';

/**
 * The Fleet page's data. The console does not import the router (modules stay independent); `server/` maps the
 * router's stats into this shape, which is what the page reads.
 */
export function prefixHitRate(hits: number | null, queries: number | null): number | null {
  if (hits === null || queries === null || queries <= 0) return null;
  return Math.round((hits / queries) * 1000) / 1000;
}
