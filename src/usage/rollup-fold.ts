import { COL, NO_TTFT } from './row-layout.js';
import { CUBOID, CUBOIDS, finestTier, floorTo, TIER, TIER_MS, type RollupRow } from './rollup-shape.js';
import { BinCounts, sketchKey } from './sketch.js';

interface Group {
  readonly bucket: number;
  /** usage_names ids (0 for none) and the status class, in DIM_COLUMNS order. */
  readonly dims: number[];
  requests: number;
  errors: number;
  prompt: number;
  completion: number;
  cached: number;
  readonly lat: BinCounts;
  readonly ttft: BinCounts;
}

/** How far compaction has gone for a cuboid: hour and day rows cover buckets before these. */
export interface CuboidMarks {
  hoursDone: number;
  daysDone: number;
}

const MINUTE = TIER_MS[TIER.minute];
const HOUR = TIER_MS[TIER.hour];

const newGroup = (bucket: number, dims: number[]): Group => ({
  bucket, dims, requests: 0, errors: 0, prompt: 0, completion: 0, cached: 0, lat: new BinCounts(), ttft: new BinCounts(),
});

/**
 * Rows folded in memory until they are written as rollup rows (in the same transaction that records `lastId` as
 * rolled). Three tables: every dimension by hour (the full cuboid); the owner dimensions by minute (the owner
 * cuboid, and from it totals, subjects, teams, keys and models); the routing dimensions by minute (the routing cuboid).
 * Per row: three hashed lookups, two logs, six bin counts.
 */
export class RollupFold {
  #hours = new GroupTable();
  #minutes = new GroupTable();
  #routes = new GroupTable();
  /** This row's dimensions, reused (no allocation per row unless it starts a group). */
  readonly #dims = [0, 0, 0, 0, 0, 0, 0, 0];
  /** Rows folded since the last drain. */
  rows = 0;
  /** Rows with usage_rows ids in (baseId, lastId] are folded here; baseId is the database's rolled_id. */
  baseId: number;
  lastId: number;

  constructor(baseId: number) {
    this.baseId = baseId;
    this.lastId = baseId;
  }

  /** Distinct groups held (the memory bound). */
  get groups(): number {
    return this.#hours.size + this.#minutes.size + this.#routes.size;
  }

  /**
   * Folds the row whose values start at `p[at]` (row-layout.ts order, names already usage_names ids or null); or a
   * packed row (sqlite-sink.ts PackedRows: 0 for no name, NO_TTFT for no ttft).
   */
  add(p: ArrayLike<unknown>, at: number): void {
    const time = p[at + COL.timeMs] as number;
    const s = (p[at + COL.subject] as number | null) ?? 0;
    const t = (p[at + COL.team] as number | null) ?? 0;
    const k = (p[at + COL.key] as number | null) ?? 0;
    const rm = (p[at + COL.requestedModel] as number | null) ?? 0;
    const um = (p[at + COL.upstreamModel] as number | null) ?? 0;
    const b = (p[at + COL.backend] as number | null) ?? 0;
    const e = (p[at + COL.endpoint] as number | null) ?? 0;
    const status = p[at + COL.status] as number;
    const sc = Math.floor(status / 100);
    const d = this.#dims;
    d[0] = s;
    d[1] = t;
    d[2] = k;
    d[3] = rm;
    d[4] = um;
    d[5] = b;
    d[6] = e;
    d[7] = sc;
    const h = this.#hours.group(floorTo(time, HOUR), d);
    const minute = floorTo(time, MINUTE);
    d[0] = d[2] = 0;
    const r = this.#routes.group(minute, d);
    d[0] = s;
    d[2] = k;
    d[5] = d[6] = d[7] = 0;
    const m = this.#minutes.group(minute, d);
    const lat = sketchKey(p[at + COL.latencyMs] as number);
    const ttftMs = p[at + COL.ttftMs] as number | null;
    const ttft = ttftMs === null || ttftMs === NO_TTFT ? null : sketchKey(ttftMs);
    const prompt = p[at + COL.promptTokens] as number;
    const completion = p[at + COL.completionTokens] as number;
    const cached = p[at + COL.cachedTokens] as number;
    bump(h, status, prompt, completion, cached, lat, ttft);
    bump(m, status, prompt, completion, cached, lat, ttft);
    bump(r, status, prompt, completion, cached, lat, ttft);
    this.rows++;
  }

  /**
   * Everything folded as rollup rows: each cuboid at its finest tier, plus, for buckets that compaction has already
   * passed (rows that arrive late: a long request is recorded when it ends), the same sums at the coarser tiers, so
   * they stay exact. Empties the fold; `baseId` becomes `lastId`.
   */
  drain(marks: (cuboid: number) => CuboidMarks): RollupRow[] {
    const out: RollupRow[] = [];
    for (const cuboid of CUBOIDS) {
      const tier = finestTier(cuboid);
      const source = cuboid === CUBOID.full ? this.#hours : cuboid === CUBOID.routing ? this.#routes : this.#minutes;
      const whole = cuboid === CUBOID.full || cuboid === CUBOID.routing || cuboid === CUBOID.owner;
      const groups = whole ? source.all() : project(source.all(), cuboid);
      const m = marks(cuboid);
      for (const g of groups) {
        const sums = [g.requests, g.errors, g.prompt, g.completion, g.cached, g.lat.encode(), g.ttft.encode()];
        out.push([tier, cuboid, g.bucket, ...g.dims, ...sums]);
        if (tier === TIER.minute && g.bucket < m.hoursDone) out.push([TIER.hour, cuboid, floorTo(g.bucket, HOUR), ...g.dims, ...sums]);
        if (g.bucket < m.daysDone) out.push([TIER.day, cuboid, floorTo(g.bucket, TIER_MS[TIER.day]), ...g.dims, ...sums]);
      }
    }
    this.clear(this.lastId);
    return out;
  }

  clear(baseId: number): void {
    this.#hours = new GroupTable();
    this.#minutes = new GroupTable();
    this.#routes = new GroupTable();
    this.rows = 0;
    this.baseId = baseId;
    this.lastId = baseId;
  }
}

// Positional on purpose: called twice per row on the writer's path, where an options object would be allocated.
function bump(g: Group, status: number, prompt: number, completion: number, cached: number, lat: number, ttft: number | null): void {
  g.requests++;
  if (status >= 400) g.errors++;
  g.prompt += prompt;
  g.completion += completion;
  g.cached += cached;
  g.lat.addKey(lat);
  if (ttft !== null) g.ttft.addKey(ttft);
}

/**
 * Groups found by a 32-bit hash of bucket and dimensions, chained on a collision: no key string is built per row
 * (building and hashing one was most of the fold's cost).
 */
class GroupTable {
  readonly #byHash = new Map<number, Group | Group[]>();
  size = 0;

  /** The group of `bucket` and `dims` (copied when the group is new). */
  group(bucket: number, dims: readonly number[]): Group {
    let x = Math.imul(bucket / 60_000, 0x9e3779b1);
    for (let i = 0; i < dims.length; i++) {
      x = Math.imul(x ^ dims[i]!, 0x85ebca6b);
      x ^= x >>> 13;
    }
    const found = this.#byHash.get(x);
    if (found !== undefined) {
      if (!Array.isArray(found)) {
        if (same(found, bucket, dims)) return found;
      } else {
        for (const g of found) if (same(g, bucket, dims)) return g;
      }
    }
    const g = newGroup(bucket, dims.slice());
    if (found === undefined) this.#byHash.set(x, g);
    else if (Array.isArray(found)) found.push(g);
    else this.#byHash.set(x, [found, g]);
    this.size++;
    return g;
  }

  *all(): Generator<Group> {
    for (const v of this.#byHash.values()) {
      if (Array.isArray(v)) yield* v;
      else yield v;
    }
  }
}

function same(g: Group, bucket: number, dims: readonly number[]): boolean {
  if (g.bucket !== bucket) return false;
  for (let i = 0; i < dims.length; i++) if (g.dims[i] !== dims[i]) return false;
  return true;
}

/** Groups merged down to `cuboid`'s dimensions (the others become 0). */
function project(groups: Iterable<Group>, cuboid: number): Iterable<Group> {
  const out = new Map<string, Group>();
  for (const g of groups) {
    const dims = g.dims.map((d, i) => ((cuboid >> i) & 1 ? d : 0));
    const key = `${g.bucket}|${dims.join('|')}`;
    let p = out.get(key);
    if (p === undefined) out.set(key, (p = newGroup(g.bucket, dims)));
    p.requests += g.requests;
    p.errors += g.errors;
    p.prompt += g.prompt;
    p.completion += g.completion;
    p.cached += g.cached;
    p.lat.addAll(g.lat);
    p.ttft.addAll(g.ttft);
  }
  return out.values();
}

