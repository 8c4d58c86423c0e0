import { exponentialInt, lognormalInt, normalInt } from './random.js';
import { independent, multiTurn, sharedPrefix, type Workload } from './workloads.js';

/**
 * The benchmark's workloads (routing-research.md §5 and §7.4), sized for 8 simulated 8B/H100 replicas. `scale`
 * stretches or shrinks the measured window (and time-based warm-ups); the shapes stay the same. Seeds are fixed per
 * workload so that every policy and every run sees the same prompts.
 */
export interface CatalogEntry {
  readonly name: string;
  readonly build: (scale: number) => Workload;
}

const s = (ms: number, scale: number): number => Math.max(5000, Math.round(ms * scale));

export const CATALOG: readonly CatalogEntry[] = [
  {
    // W1: llm-d b2b-saas at 73% of cluster KV for an 8B/H100 fleet: 228 groups × 5, 6000 + 1200 tokens, 1000 out.
    name: 'b2b-saas',
    build: (scale) =>
      sharedPrefix({
        name: 'b2b-saas',
        title: 'W1 b2b-saas shared prefixes (228×5, 6000+1200 in, 1000 out)',
        kind: 'shared-prefix',
        groups: 228,
        perGroup: 5,
        systemTokens: 6000,
        questionTokens: () => 1200,
        outputTokens: () => 1000,
        measureMs: s(90_000, scale),
        sloTtftMs: 2000,
        seed: 101,
      }),
  },
  {
    // W2: GIE short-questions / few-system-prompts multi-chat: 6 system prompts, tiny questions, long answers.
    name: 'few-sys-chat',
    build: (scale) =>
      multiTurn({
        name: 'few-sys-chat',
        title: 'W2 GIE short questions, few system prompts, multi-turn (6 sys×1000, q≈30, out≈1000, 5 turns)',
        kind: 'chat',
        warmupMs: s(90_000, scale),
        measureMs: s(90_000, scale),
        thinkMs: (r) => lognormalInt(r, 3000, 2000, 200, 20_000),
        systems: 6,
        systemTokens: () => 1000,
        openingTokens: () => 0,
        turns: () => 5,
        questionTokens: (r) => normalInt(r, 30, 9, 1, 200),
        outputTokens: (r) => normalInt(r, 1000, 300, 50, 2000),
        maxTokens: null,
        sloTtftMs: 1000,
        seed: 202,
      }),
  },
  {
    // W3: GIE long-questions / many-system-prompts: low overlap, prefill-heavy.
    name: 'long-q-many-sys',
    build: (scale) =>
      sharedPrefix({
        name: 'long-q-many-sys',
        title: 'W3 GIE long questions, many system prompts (150×5, 1000+6200 in, 1000 out)',
        kind: 'prefill-heavy',
        groups: 150,
        perGroup: 5,
        systemTokens: 1000,
        questionTokens: () => 6200,
        outputTokens: () => 1000,
        measureMs: s(90_000, scale),
        sloTtftMs: 2000,
        seed: 303,
      }),
  },
  {
    // W4: inference-perf interactive-chat catalog entry.
    name: 'interactive-chat',
    build: (scale) =>
      multiTurn({
        name: 'interactive-chat',
        title: 'W4 interactive chat (multi-turn, ctx≈4k, +50/turn, out≈300)',
        kind: 'chat',
        warmupMs: s(60_000, scale),
        measureMs: s(90_000, scale),
        // The catalog's think time is 45 s; 10 s keeps sessions short enough for a 90 s measured window.
        thinkMs: (r) => lognormalInt(r, 10_000, 8000, 1000, 60_000),
        systems: 8,
        systemTokens: () => 1000,
        openingTokens: (r) => lognormalInt(r, 3000, 2500, 0, 14_000),
        turns: (r) => lognormalInt(r, 4, 2.5, 1, 15),
        questionTokens: (r) => lognormalInt(r, 50, 40, 10, 1000),
        outputTokens: (r) => normalInt(r, 300, 150, 10, 1000),
        maxTokens: 1000,
        sloTtftMs: 1000,
        seed: 404,
      }),
  },
  {
    // W5: code generation with long repository contexts (beyond the 4k-token approximate window), multi-turn.
    name: 'code-gen',
    build: (scale) =>
      multiTurn({
        name: 'code-gen',
        title: 'W5 code generation, long repo contexts (12 repos ≈20k tok, +3k opening, +1.5k/turn, out≈425)',
        kind: 'prefill-heavy',
        warmupMs: s(120_000, scale),
        measureMs: s(120_000, scale),
        // The catalog's think time is 15 s; 5 s keeps sessions short enough for the measured window.
        thinkMs: (r) => lognormalInt(r, 5000, 4000, 1000, 60_000),
        systems: 12,
        systemTokens: (r) => lognormalInt(r, 20_000, 12_000, 6000, 60_000),
        openingTokens: (r) => lognormalInt(r, 3000, 2000, 500, 12_000),
        turns: (r) => lognormalInt(r, 5, 3, 1, 12),
        questionTokens: (r) => lognormalInt(r, 1500, 1200, 100, 10_000),
        outputTokens: (r) => lognormalInt(r, 425, 600, 50, 3000),
        maxTokens: 4096,
        sloTtftMs: 3000,
        seed: 505,
      }),
  },
  {
    // W6: reasoning, the decode-bound control (outputs scaled ¼ from the catalog's mean 8000 to keep runs short).
    name: 'reasoning',
    build: (scale) =>
      independent({
        name: 'reasoning',
        title: 'W6 reasoning, decode-bound control (250 sys + ≈1000 in, out≈2000 exp.)',
        kind: 'decode-heavy',
        warmupMs: s(40_000, scale),
        measureMs: s(90_000, scale),
        systemTokens: 250,
        inputTokens: (r) => lognormalInt(r, 1000, 800, 100, 5000),
        outputTokens: (r) => exponentialInt(r, 2000, 125, 8000),
        maxTokens: 8000,
        sloTtftMs: 2000,
        seed: 606,
      }),
  },
  {
    // W7: ShareGPT-like, no sharing: the no-affinity control.
    name: 'sharegpt',
    build: (scale) =>
      independent({
        name: 'sharegpt',
        title: 'W7 ShareGPT-like control, no shared prefixes (in≈300, out≈250 lognormal)',
        kind: 'control',
        warmupMs: s(10_000, scale),
        measureMs: s(25_000, scale),
        systemTokens: 0,
        inputTokens: (r) => lognormalInt(r, 300, 400, 4, 4000),
        outputTokens: (r) => lognormalInt(r, 250, 250, 1, 2000),
        maxTokens: 2048,
        sloTtftMs: 1000,
        seed: 707,
      }),
  },
];

export function catalogEntry(name: string): CatalogEntry {
  const e = CATALOG.find((c) => c.name === name);
  if (!e) throw new Error(`unknown workload ${name}`);
  return e;
}
