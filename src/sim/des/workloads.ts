import { createSeededRng, shuffle, type SeededRng } from './random.js';
import { concatSegments, randomSegment, type Segment } from './vocab.js';
import type { SimSession, SimTurn, Warmup, Workload, WorkloadKind } from './workload-types.js';

export type { SimSession, SimTurn, Workload, WorkloadKind } from './workload-types.js';

interface Common {
  readonly name: string;
  readonly title: string;
  readonly kind: WorkloadKind;
  readonly measureMs: number;
  readonly sloTtftMs: number;
  readonly seed: number;
  readonly arrivalCv?: number;
}

/** A generator seeded by (workload seed, session index): session i is the same whenever it is asked for. */
function rngFor(seed: number, i: number): SeededRng {
  return createSeededRng((Math.imul(seed, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) | 0);
}

/**
 * Shared-prefix single-turn workloads in inference-perf's shape (routing-research.md §5.1/5.2): `groups` system
 * prompts × `perGroup` questions, prompt = system + question, max_tokens = output (ignore_eos). The shuffled prompt
 * set is cycled, as inference-perf does across stages; the first pass over it is the warm-up that seats prefixes.
 */
export function sharedPrefix(
  spec: Common & {
    groups: number;
    perGroup: number;
    systemTokens: number;
    questionTokens: (rng: SeededRng) => number;
    outputTokens: (rng: SeededRng) => number;
  },
): Workload {
  const rng = createSeededRng(spec.seed);
  const prompts: SimTurn[] = [];
  for (let g = 0; g < spec.groups; g++) {
    const sys = randomSegment(rng, spec.systemTokens);
    for (let q = 0; q < spec.perGroup; q++) {
      const p = concatSegments([sys, randomSegment(rng, spec.questionTokens(rng))]);
      const out = spec.outputTokens(rng);
      prompts.push({ promptIds: p.ids, promptText: p.text, outputTokens: out, outputIds: null, maxTokens: out });
    }
  }
  const pool: SimSession[] = shuffle(rng, prompts).map((t, i) => ({ key: `p${i}`, turns: [t], thinkMs: [] }));
  return {
    ...common(spec, { kind: 'pass' }),
    session: (i) => pool[i % pool.length] as SimSession,
    poolSize: pool.length,
    meanTurns: 1,
  };
}

/**
 * Multi-turn chat sessions: each starts from one of `systems` shared system prompts (Zipf popularity) plus its own
 * opening context, then alternates questions and answers; turn k's prompt is everything so far, so the previous
 * turn's prompt and answer are a prefix of the next one. Turns share one token stream (subarray views).
 */
export function multiTurn(
  spec: Common & {
    warmupMs: number;
    thinkMs: (rng: SeededRng) => number;
    systems: number;
    systemTokens: (rng: SeededRng) => number;
    openingTokens: (rng: SeededRng) => number;
    turns: (rng: SeededRng) => number;
    questionTokens: (rng: SeededRng) => number;
    outputTokens: (rng: SeededRng) => number;
    maxTokens: number | null;
  },
): Workload {
  const rng = createSeededRng(spec.seed);
  const systems: Segment[] = [];
  for (let i = 0; i < spec.systems; i++) systems.push(randomSegment(rng, spec.systemTokens(rng)));
  const session = (i: number): SimSession => {
    const r = rngFor(spec.seed, i);
    const sys = systems[zipf(r, systems.length)] as Segment;
    const turns = spec.turns(r);
    const parts: Segment[] = [sys];
    const opening = spec.openingTokens(r);
    for (let t = 0; t < turns; t++) {
      parts.push(randomSegment(r, (t === 0 ? opening : 0) + spec.questionTokens(r)));
      parts.push(randomSegment(r, spec.outputTokens(r)));
    }
    const stream = concatSegments(parts);
    const out: SimTurn[] = [];
    let tokenEnd = sys.ids.length;
    let charEnd = sys.text.length;
    for (let t = 0; t < turns; t++) {
      const q = parts[1 + 2 * t] as Segment;
      const a = parts[2 + 2 * t] as Segment;
      tokenEnd += q.ids.length;
      charEnd += q.text.length;
      const outputIds = stream.ids.subarray(tokenEnd, tokenEnd + a.ids.length);
      out.push({ promptIds: stream.ids.subarray(0, tokenEnd), promptText: stream.text.slice(0, charEnd), outputTokens: a.ids.length, outputIds, maxTokens: spec.maxTokens });
      tokenEnd += a.ids.length;
      charEnd += a.text.length;
    }
    const thinkMs = out.slice(1).map(() => spec.thinkMs(r));
    return { key: `s${i}`, turns: out, thinkMs };
  };
  // The turn-count distribution's mean, estimated once from a fixed sample, sets the session arrival rate.
  const sample = createSeededRng(spec.seed ^ 0x5eed);
  let total = 0;
  for (let i = 0; i < 4000; i++) total += spec.turns(sample);
  return { ...common(spec, { kind: 'time', ms: spec.warmupMs }), session, poolSize: null, meanTurns: total / 4000 };
}

/** Independent requests with no shared content beyond an optional common system prompt (controls). */
export function independent(
  spec: Common & {
    warmupMs: number;
    systemTokens: number;
    inputTokens: (rng: SeededRng) => number;
    outputTokens: (rng: SeededRng) => number;
    maxTokens: number | null;
  },
): Workload {
  const sys = randomSegment(createSeededRng(spec.seed), spec.systemTokens);
  const session = (i: number): SimSession => {
    const r = rngFor(spec.seed, i);
    const q = randomSegment(r, spec.inputTokens(r));
    const p = spec.systemTokens > 0 ? concatSegments([sys, q]) : q;
    const out = spec.outputTokens(r);
    return { key: `s${i}`, turns: [{ promptIds: p.ids, promptText: p.text, outputTokens: out, outputIds: null, maxTokens: spec.maxTokens ?? out }], thinkMs: [] };
  };
  return { ...common(spec, { kind: 'time', ms: spec.warmupMs }), session, poolSize: null, meanTurns: 1 };
}

function common(spec: Common, warmup: Warmup) {
  return {
    name: spec.name,
    title: spec.title,
    kind: spec.kind,
    warmup,
    measureMs: spec.measureMs,
    sloTtftMs: spec.sloTtftMs,
    arrivalCv: spec.arrivalCv ?? 1,
  };
}

function zipf(rng: SeededRng, n: number): number {
  let h = 0;
  for (let i = 1; i <= n; i++) h += 1 / i;
  let u = rng.next() * h;
  for (let i = 1; i <= n; i++) {
    u -= 1 / i;
    if (u <= 0) return i - 1;
  }
  return n - 1;
}
