import { COL } from './row-layout.js';
import { CUBOID, CUBOIDS, floorTo, TIER, TIER_MS, type RollupRow } from './rollup-shape.js';
import { encodeKeys, sketchKey } from './sketch.js';

interface Group {
  readonly bucket: number;
  /** usage_names ids (0 for none) and the status class, in DIM_COLUMNS order. */
  readonly dims: number[];
  requests: number;
  errors: number;
  prompt: number;
  completion: number;
  cached: number;
  /** Sketch bin keys, one per value (sketch.ts). */
  readonly lat: number[];
  readonly ttft: number[];
}

/** How far compaction has gone for a cuboid: hour and day rows cover buckets before these. */
export interface CuboidMarks {
  hoursDone: number;
  daysDone: number;
}

const MINUTE = TIER_MS[TIER.minute];

/**
 * Rows folded in memory into minute groups of the full cuboid, until they are written as rollup rows (in the same
 * transaction that records `lastId` as rolled). Per row: one string key, one Map lookup, two logs (sketch bins).
 */
export class RollupFold {
  #groups = new Map<string, Group>();
  /** Rows folded since the last drain. */
  rows = 0;
  /** Rows with usage_rows ids in (baseId, lastId] are folded here; baseId is the database's rolled_id. */
  baseId: number;
  lastId: number;

  constructor(baseId: number) {
    this.baseId = baseId;
    this.lastId = baseId;
  }

  get groups(): number {
    return this.#groups.size;
  }

  /**
   * Folds the row whose values start at `p[at]` (row-layout.ts order, names already usage_names ids or null).
   */
  add(p: readonly unknown[], at: number): void {
    const bucket = floorTo(p[at + COL.timeMs] as number, MINUTE);
    const s = (p[at + COL.subject] as number | null) ?? 0;
    const t = (p[at + COL.team] as number | null) ?? 0;
    const k = (p[at + COL.key] as number | null) ?? 0;
    const rm = (p[at + COL.requestedModel] as number | null) ?? 0;
    const um = (p[at + COL.upstreamModel] as number | null) ?? 0;
    const b = (p[at + COL.backend] as number | null) ?? 0;
    const e = (p[at + COL.endpoint] as number | null) ?? 0;
    const status = p[at + COL.status] as number;
    const sc = Math.floor(status / 100);
    const key = `${bucket}|${s}|${t}|${k}|${rm}|${um}|${b}|${e}|${sc}`;
    let g = this.#groups.get(key);
    if (g === undefined) {
      g = { bucket, dims: [s, t, k, rm, um, b, e, sc], requests: 0, errors: 0, prompt: 0, completion: 0, cached: 0, lat: [], ttft: [] };
      this.#groups.set(key, g);
    }
    g.requests++;
    if (status >= 400) g.errors++;
    g.prompt += p[at + COL.promptTokens] as number;
    g.completion += p[at + COL.completionTokens] as number;
    g.cached += p[at + COL.cachedTokens] as number;
    g.lat.push(sketchKey(p[at + COL.latencyMs] as number));
    const ttft = p[at + COL.ttftMs] as number | null;
    if (ttft !== null) g.ttft.push(sketchKey(ttft));
    this.rows++;
  }

  /**
   * Everything folded as rollup rows: each kept cuboid at minute grain, plus, for buckets that compaction has already
   * passed (rows that arrive late: a long request is recorded when it ends), the same sums at hour and day grain, so
   * the coarser tiers stay exact. Empties the fold; `baseId` becomes `lastId`.
   */
  drain(marks: (cuboid: number) => CuboidMarks): RollupRow[] {
    const out: RollupRow[] = [];
    for (const cuboid of CUBOIDS) {
      const groups = cuboid === CUBOID.full ? this.#groups : project(this.#groups, cuboid);
      const m = marks(cuboid);
      for (const g of groups.values()) {
        const sums = [g.requests, g.errors, g.prompt, g.completion, g.cached, encodeKeys(g.lat), encodeKeys(g.ttft)];
        out.push([TIER.minute, cuboid, g.bucket, ...g.dims, ...sums]);
        if (g.bucket < m.hoursDone) out.push([TIER.hour, cuboid, floorTo(g.bucket, TIER_MS[TIER.hour]), ...g.dims, ...sums]);
        if (g.bucket < m.daysDone) out.push([TIER.day, cuboid, floorTo(g.bucket, TIER_MS[TIER.day]), ...g.dims, ...sums]);
      }
    }
    this.clear(this.lastId);
    return out;
  }

  clear(baseId: number): void {
    this.#groups = new Map();
    this.rows = 0;
    this.baseId = baseId;
    this.lastId = baseId;
  }
}

/** The full cuboid's groups merged down to `cuboid`'s dimensions (the others become 0). */
function project(groups: ReadonlyMap<string, Group>, cuboid: number): Map<string, Group> {
  const out = new Map<string, Group>();
  for (const g of groups.values()) {
    const dims = g.dims.map((d, i) => ((cuboid >> i) & 1 ? d : 0));
    const key = `${g.bucket}|${dims.join('|')}`;
    let p = out.get(key);
    if (p === undefined) {
      p = { bucket: g.bucket, dims, requests: 0, errors: 0, prompt: 0, completion: 0, cached: 0, lat: [], ttft: [] };
      out.set(key, p);
    }
    p.requests += g.requests;
    p.errors += g.errors;
    p.prompt += g.prompt;
    p.completion += g.completion;
    p.cached += g.cached;
    for (const v of g.lat) p.lat.push(v);
    for (const v of g.ttft) p.ttft.push(v);
  }
  return out;
}

