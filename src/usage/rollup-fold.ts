import { COL } from './row-layout.js';
import { CUBOID, CUBOIDS, finestTier, floorTo, TIER, TIER_MS, type RollupRow } from './rollup-shape.js';
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
const HOUR = TIER_MS[TIER.hour];

const newGroup = (bucket: number, dims: number[]): Group => ({ bucket, dims, requests: 0, errors: 0, prompt: 0, completion: 0, cached: 0, lat: [], ttft: [] });

/**
 * Rows folded in memory until they are written as rollup rows (in the same transaction that records `lastId` as
 * rolled). Two maps: every dimension by hour (the full cuboid, and from it subjects and keys), and team × model ×
 * status by minute (from it totals, teams and models). Per row: two string keys, two Map lookups, two logs.
 */
export class RollupFold {
  #hours = new Map<string, Group>();
  #minutes = new Map<string, Group>();
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
    return this.#hours.size + this.#minutes.size;
  }

  /** Folds the row whose values start at `p[at]` (row-layout.ts order, names already usage_names ids or null). */
  add(p: readonly unknown[], at: number): void {
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
    const hour = floorTo(time, HOUR);
    const hourKey = `${hour}|${s}|${t}|${k}|${rm}|${um}|${b}|${e}|${sc}`;
    let h = this.#hours.get(hourKey);
    if (h === undefined) this.#hours.set(hourKey, (h = newGroup(hour, [s, t, k, rm, um, b, e, sc])));
    const minute = floorTo(time, MINUTE);
    const minuteKey = `${minute}|${t}|${rm}`;
    let m = this.#minutes.get(minuteKey);
    if (m === undefined) this.#minutes.set(minuteKey, (m = newGroup(minute, [0, t, 0, rm, 0, 0, 0, 0])));
    const lat = sketchKey(p[at + COL.latencyMs] as number);
    const ttftMs = p[at + COL.ttftMs] as number | null;
    const ttft = ttftMs === null ? null : sketchKey(ttftMs);
    const prompt = p[at + COL.promptTokens] as number;
    const completion = p[at + COL.completionTokens] as number;
    const cached = p[at + COL.cachedTokens] as number;
    bump(h, status, prompt, completion, cached, lat, ttft);
    bump(m, status, prompt, completion, cached, lat, ttft);
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
      const source = tier === TIER.minute ? this.#minutes : this.#hours;
      const groups = cuboid === CUBOID.full ? source : project(source, cuboid);
      const m = marks(cuboid);
      for (const g of groups.values()) {
        const sums = [g.requests, g.errors, g.prompt, g.completion, g.cached, encodeKeys(g.lat), encodeKeys(g.ttft)];
        out.push([tier, cuboid, g.bucket, ...g.dims, ...sums]);
        if (tier === TIER.minute && g.bucket < m.hoursDone) out.push([TIER.hour, cuboid, floorTo(g.bucket, HOUR), ...g.dims, ...sums]);
        if (g.bucket < m.daysDone) out.push([TIER.day, cuboid, floorTo(g.bucket, TIER_MS[TIER.day]), ...g.dims, ...sums]);
      }
    }
    this.clear(this.lastId);
    return out;
  }

  clear(baseId: number): void {
    this.#hours = new Map();
    this.#minutes = new Map();
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
  g.lat.push(lat);
  if (ttft !== null) g.ttft.push(ttft);
}

/** Groups merged down to `cuboid`'s dimensions (the others become 0). */
function project(groups: ReadonlyMap<string, Group>, cuboid: number): Map<string, Group> {
  const out = new Map<string, Group>();
  for (const g of groups.values()) {
    const dims = g.dims.map((d, i) => ((cuboid >> i) & 1 ? d : 0));
    const key = `${g.bucket}|${dims.join('|')}`;
    let p = out.get(key);
    if (p === undefined) out.set(key, (p = newGroup(g.bucket, dims)));
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

