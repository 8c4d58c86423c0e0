import { createSeededRng, exponentialInt, lognormalInt, normalInt, shuffle, type SeededRng } from './random.js';
import { concatSegments, randomSegment, textOf, type Segment } from './vocab.js';
import type { SimSession, SimTurn, Workload, WorkloadKind } from './workload-types.js';

export type { SimSession, SimTurn, Workload, WorkloadKind } from './workload-types.js';

/**
 * Shared-prefix single-turn workloads in inference-perf's shape (routing-research.md §5.1/5.2): `groups` system
 * prompts × `perGroup` questions, prompt = system + question, max_tokens = output (ignore_eos). The prompt set is
 * sent twice, shuffled each time: the first pass seats the prefixes (warm-up), the second is measured.
 */
export function sharedPrefix(spec: {
  name: string;
  title: string;
  kind: WorkloadKind;
  groups: number;
  perGroup: number;
  systemTokens: number;
  questionTokens: (rng: SeededRng) => number;
  outputTokens: (rng: SeededRng) => number;
  sloTtftMs: number;
  seed: number;
  arrivalCv?: number;
}): Workload {
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
  const sessions: SimSession[] = [];
  for (const pass of [0, 1]) {
    for (const t of shuffle(rng, prompts.slice())) {
      sessions.push({ key: `s${sessions.length}`, turns: [t], measured: pass === 1 });
    }
  }
  return { name: spec.name, title: spec.title, kind: spec.kind, sessions, requests: sessions.length, meanTurns: 1, sessionSlots: null, sloTtftMs: spec.sloTtftMs, arrivalCv: spec.arrivalCv ?? 1 };
}

/**
 * Multi-turn chat sessions: each session starts from one of `systems` shared system prompts plus its own opening
 * context, then alternates questions and answers; turn k's prompt is everything so far, so prompts grow and the
 * previous turn's prompt and answer are a prefix of the next one. Token streams are shared between turns (subarray
 * views), so a long session costs its length once.
 */
export function multiTurn(spec: {
  name: string;
  title: string;
  kind: WorkloadKind;
  sessions: number;
  warmupSessions: number;
  systems: number;
  systemTokens: (rng: SeededRng) => number;
  openingTokens: (rng: SeededRng) => number;
  turns: (rng: SeededRng) => number;
  questionTokens: (rng: SeededRng) => number;
  outputTokens: (rng: SeededRng) => number;
  maxTokens: number | null;
  /** Concurrent session slots (see Workload.sessionSlots). */
  slots: number;
  sloTtftMs: number;
  seed: number;
  arrivalCv?: number;
}): Workload {
  const rng = createSeededRng(spec.seed);
  const systems: Segment[] = [];
  for (let i = 0; i < spec.systems; i++) systems.push(randomSegment(rng, spec.systemTokens(rng)));
  const sessions: SimSession[] = [];
  let requests = 0;
  for (let s = 0; s < spec.sessions; s++) {
    // Skewed popularity of system prompts (Zipf-like, s = 1), as in real tenants.
    const sys = systems[zipf(rng, systems.length)] as Segment;
    const turns = spec.turns(rng);
    const parts: Segment[] = [sys];
    const opening = spec.openingTokens(rng);
    const plan: { q: number; a: number }[] = [];
    for (let t = 0; t < turns; t++) plan.push({ q: (t === 0 ? opening : 0) + spec.questionTokens(rng), a: spec.outputTokens(rng) });
    for (const p of plan) {
      parts.push(randomSegment(rng, p.q));
      parts.push(randomSegment(rng, p.a));
    }
    const stream = concatSegments(parts);
    // Character offsets at token boundaries we cut at.
    const out: SimTurn[] = [];
    let tokenEnd = sys.ids.length;
    let charEnd = sys.text.length;
    for (let t = 0; t < plan.length; t++) {
      const q = parts[1 + 2 * t] as Segment;
      const a = parts[2 + 2 * t] as Segment;
      tokenEnd += q.ids.length;
      charEnd += q.text.length;
      const outputIds = stream.ids.subarray(tokenEnd, tokenEnd + a.ids.length);
      out.push({ promptIds: stream.ids.subarray(0, tokenEnd), promptText: stream.text.slice(0, charEnd), outputTokens: a.ids.length, outputIds, maxTokens: spec.maxTokens });
      tokenEnd += a.ids.length;
      charEnd += a.text.length;
    }
    sessions.push({ key: `s${s}`, turns: out, measured: s >= spec.warmupSessions });
    requests += out.length;
  }
  return { name: spec.name, title: spec.title, kind: spec.kind, sessions, requests, meanTurns: requests / Math.max(1, spec.sessions), sessionSlots: spec.slots, sloTtftMs: spec.sloTtftMs, arrivalCv: spec.arrivalCv ?? 1 };
}

/** Independent requests with no shared content (ShareGPT-like and reasoning controls). */
export function independent(spec: {
  name: string;
  title: string;
  kind: WorkloadKind;
  requests: number;
  warmup: number;
  systemTokens: number;
  inputTokens: (rng: SeededRng) => number;
  outputTokens: (rng: SeededRng) => number;
  maxTokens: number | null;
  sloTtftMs: number;
  seed: number;
}): Workload {
  const rng = createSeededRng(spec.seed);
  const sys = randomSegment(rng, spec.systemTokens);
  const sessions: SimSession[] = [];
  for (let i = 0; i < spec.requests; i++) {
    const p = spec.systemTokens > 0 ? concatSegments([sys, randomSegment(rng, spec.inputTokens(rng))]) : randomSegment(rng, spec.inputTokens(rng));
    const out = spec.outputTokens(rng);
    sessions.push({ key: `s${i}`, turns: [{ promptIds: p.ids, promptText: p.text, outputTokens: out, outputIds: null, maxTokens: spec.maxTokens ?? out }], measured: i >= spec.warmup });
  }
  return { name: spec.name, title: spec.title, kind: spec.kind, sessions, requests: sessions.length, meanTurns: 1, sessionSlots: null, sloTtftMs: spec.sloTtftMs, arrivalCv: 1 };
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

export { lognormalInt, normalInt, exponentialInt, textOf };
