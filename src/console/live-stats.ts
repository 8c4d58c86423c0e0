import type { RequestCtx } from '../core/index.js';
import { BUCKETS, bucketOf, quantile } from './histogram.js';
import type { ErrorClass, LiveModelRow, LiveSeries, LiveSnapshot } from './wire.js';

/** Aggregates per 10 s, for the last hour: what the console's Live page charts. */
export const SLOT_MS = 10_000;
const SLOTS = 360;
/** Model names come from callers; past this many in one slot the rest share one row. */
const MAX_MODELS_PER_SLOT = 64;
const OTHER = '(other)';
const NOT_ROUTED = '(not routed)';

export const ERROR_CLASSES: readonly ErrorClass[] = ['client_error', 'unauthorized', 'rate_limited', 'upstream_error', 'client_abort'];

class ModelAgg {
  requests = 0;
  promptTokens = 0;
  completionTokens = 0;
  readonly errors: Record<ErrorClass, number> = { client_error: 0, unauthorized: 0, rate_limited: 0, upstream_error: 0, client_abort: 0 };
  readonly ttft = new Uint32Array(BUCKETS);
  readonly e2e = new Uint32Array(BUCKETS);
}

interface Slot {
  start: number;
  readonly models: Map<string, ModelAgg>;
}




export interface LiveStats {
  /** The request-end hook: a few counter increments; allocates only for a new slot or a new model in a slot. */
  record(ctx: RequestCtx): void;
  snapshot(): LiveSnapshot;
}

const round = (v: number, d = 100) => Math.round(v * d) / d;
/** The ring position of the slot starting at `start` (non-negative for any time). */
const indexOf = (start: number) => ((Math.floor(start / SLOT_MS) % SLOTS) + SLOTS) % SLOTS;

function summarize(model: string, aggs: readonly ModelAgg[], windowS: number): LiveModelRow {
  const sum = (f: (a: ModelAgg) => number) => aggs.reduce((n, a) => n + f(a), 0);
  const requests = sum((a) => a.requests);
  const errorRate = {} as Record<ErrorClass, number>;
  for (const c of ERROR_CLASSES) errorRate[c] = requests ? round(sum((a) => a.errors[c]) / requests, 10_000) : 0;
  const ttft = aggs.map((a) => a.ttft);
  const e2e = aggs.map((a) => a.e2e);
  return {
    model,
    requests,
    rps: round(requests / windowS),
    tokensInPerS: round(sum((a) => a.promptTokens) / windowS, 10),
    tokensOutPerS: round(sum((a) => a.completionTokens) / windowS, 10),
    ttft: { p50: quantile(ttft, 0.5), p99: quantile(ttft, 0.99) },
    e2e: { p50: quantile(e2e, 0.5), p99: quantile(e2e, 0.99) },
    errorRate,
  };
}

export function createLiveStats(wallMs: () => number = Date.now): LiveStats {
  const ring: Slot[] = Array.from({ length: SLOTS }, () => ({ start: -1, models: new Map() }));

  const slotFor = (now: number): Slot => {
    const start = now - (now % SLOT_MS);
    const slot = ring[indexOf(start)]!;
    if (slot.start !== start) {
      slot.start = start;
      slot.models.clear();
    }
    return slot;
  };

  function aggFor(slot: Slot, model: string): ModelAgg {
    let agg = slot.models.get(model);
    if (agg === undefined) {
      const name = slot.models.size >= MAX_MODELS_PER_SLOT ? OTHER : model;
      agg = slot.models.get(name);
      if (agg === undefined) slot.models.set(name, (agg = new ModelAgg()));
    }
    return agg;
  }

  /** Slots of the last hour, oldest first, each the live one or null when nothing happened in it. */
  function window(now: number): { start: number; slot: Slot | null }[] {
    const current = now - (now % SLOT_MS);
    const out: { start: number; slot: Slot | null }[] = [];
    for (let k = SLOTS - 1; k >= 0; k--) {
      const start = current - k * SLOT_MS;
      const slot = ring[indexOf(start)]!;
      out.push({ start, slot: slot.start === start ? slot : null });
    }
    return out;
  }

  return {
    record(ctx) {
      const agg = aggFor(slotFor(wallMs()), ctx.upstreamModel !== null ? (ctx.requestedModel ?? NOT_ROUTED) : NOT_ROUTED);
      agg.requests++;
      if (ctx.outcome !== 'success') agg.errors[ctx.outcome]++;
      const u = ctx.usage;
      if (u) {
        agg.promptTokens += u.promptTokens;
        agg.completionTokens += u.completionTokens;
      }
      if (ctx.endMs !== null) agg.e2e[bucketOf(ctx.endMs - ctx.startMs)]!++;
      if (ctx.stream && ctx.firstByteMs !== null) agg.ttft[bucketOf(ctx.firstByteMs - ctx.startMs)]!++;
    },
    snapshot() {
      const now = wallMs();
      const slots = window(now);
      const s: LiveSeries = {
        t: [],
        rps: [],
        tokensInPerS: [],
        tokensOutPerS: [],
        errorsPerS: { client_error: [], unauthorized: [], rate_limited: [], upstream_error: [], client_abort: [] },
        ttftP50: [],
        ttftP99: [],
        e2eP50: [],
        e2eP99: [],
      };
      const perS = SLOT_MS / 1000;
      for (const { start, slot } of slots) {
        const aggs = slot ? [...slot.models.values()] : [];
        // The current slot is partly over: its rates are per second of the part that has passed.
        const seconds = start + SLOT_MS > now ? Math.max(1, (now - start) / 1000) : perS;
        const sum = (f: (a: ModelAgg) => number) => aggs.reduce((n, a) => n + f(a), 0);
        s.t.push(start / 1000);
        s.rps.push(round(sum((a) => a.requests) / seconds));
        s.tokensInPerS.push(round(sum((a) => a.promptTokens) / seconds, 10));
        s.tokensOutPerS.push(round(sum((a) => a.completionTokens) / seconds, 10));
        for (const c of Object.keys(s.errorsPerS) as ErrorClass[]) s.errorsPerS[c].push(round(sum((a) => a.errors[c]) / seconds));
        const ttft = aggs.map((a) => a.ttft);
        const e2e = aggs.map((a) => a.e2e);
        s.ttftP50.push(quantile(ttft, 0.5));
        s.ttftP99.push(quantile(ttft, 0.99));
        s.e2eP50.push(quantile(e2e, 0.5));
        s.e2eP99.push(quantile(e2e, 0.99));
      }
      // Per model: the last 6 full slots plus the current one; the cards: the last 2 plus the current one. Rates are
      // over the time those slots really cover, quantiles from their histograms merged (never averaged).
      const windowS = Math.max(1, (now - slots.at(-7)!.start) / 1000);
      const byModel = new Map<string, ModelAgg[]>();
      for (const { slot } of slots.slice(-7)) {
        if (slot === null) continue;
        for (const [m, a] of slot.models) {
          const list = byModel.get(m);
          if (list) list.push(a);
          else byModel.set(m, [a]);
        }
      }
      const models: LiveModelRow[] = [...byModel].map(([model, aggs]) => summarize(model, aggs, windowS));
      models.sort((a, b) => b.requests - a.requests);
      const last = slots.slice(-3).flatMap((x) => (x.slot ? [...x.slot.models.values()] : []));
      const current = summarize('(all)', last, Math.max(1, (now - slots.at(-3)!.start) / 1000));
      return { object: 'console.live', at: new Date(now).toISOString(), slotMs: SLOT_MS, windowS: Math.round(windowS), series: s, current, models };
    },
  };
}
