/**
 * The end-to-end benchmark's workload: b2b-saas-like shared prefixes (groups of a long system prompt, each followed by
 * unique questions, fixed output length with ignore_eos), sized for 4 replicas, as *text* that the simulator's own
 * tokenizer splits into exactly the intended number of tokens (every word is a space plus 1–3 letters: one token).
 * The same prompts, as token ids, also feed the discrete-event reference run (src/sim/des), and both runs use the
 * same seeded arrival times, so the real-time run and the virtual-clock run see identical requests.
 */
import { createSeededRng, shuffle, type SeededRng } from '../../src/sim/des/random.js';
import type { SimSession, SimTurn, Workload } from '../../src/sim/des/workload-types.js';
import { tokenize } from '../../src/sim/index.js';

export interface SharedPrefixSpec {
  readonly name: string;
  readonly title: string;
  readonly groups: number;
  readonly perGroup: number;
  readonly systemTokens: number;
  readonly questionTokens: number;
  readonly outputTokens: number;
  /** Measured window of arrivals, simulated ms (after the warm-up pass over the prompt set). */
  readonly measureMs: number;
  readonly sloTtftMs: number;
  readonly seed: number;
  /** false: the no-sharing control (every prompt has its own "system prompt"). */
  readonly shared: boolean;
  /** Warm-up by time (simulated ms) instead of one pass over the prompt set (the control, whose prompts never repeat). */
  readonly warmupMs?: number;
}

export interface E2eWorkload {
  readonly spec: SharedPrefixSpec;
  /** Prompt set in the order it is cycled (shuffled once with the seed). */
  readonly prompts: readonly SimTurn[];
  /** The same prompts as a discrete-event workload. */
  readonly des: Workload;
}

const LETTERS = 'etaoinshrdlucmfwypvbgkjqxz';

/** `tokens` words of the form " x", " xy" or " xyz": the simulator's tokenizer makes each exactly one token. */
function words(rng: SeededRng, tokens: number): string {
  const parts = new Array<string>(tokens);
  for (let i = 0; i < tokens; i++) {
    const len = 1 + Math.floor(rng.next() * 3);
    let w = ' ';
    for (let j = 0; j < len; j++) w += LETTERS[Math.floor(rng.next() * LETTERS.length)];
    parts[i] = w;
  }
  return parts.join('');
}

export function buildWorkload(spec: SharedPrefixSpec): E2eWorkload {
  const rng = createSeededRng(spec.seed);
  const turns: SimTurn[] = [];
  for (let g = 0; g < spec.groups; g++) {
    const sys = words(rng, spec.systemTokens);
    for (let q = 0; q < spec.perGroup; q++) {
      // The control gives every prompt its own system text of the same length: same sizes, nothing shared.
      const system = spec.shared || q === 0 ? sys : words(rng, spec.systemTokens);
      const text = system + words(rng, spec.questionTokens);
      const ids = Int32Array.from(tokenize(text));
      if (ids.length !== spec.systemTokens + spec.questionTokens) {
        throw new Error(`workload: prompt tokenizes to ${ids.length} tokens, expected ${spec.systemTokens + spec.questionTokens}`);
      }
      turns.push({ promptIds: ids, promptText: text, outputTokens: spec.outputTokens, outputIds: null, maxTokens: spec.outputTokens });
    }
  }
  const prompts = shuffle(rng, turns);
  const pool: SimSession[] = prompts.map((t, i) => ({ key: `p${i}`, turns: [t], thinkMs: [] }));
  const des: Workload = {
    name: spec.name,
    title: spec.title,
    kind: spec.shared ? 'shared-prefix' : 'control',
    session: (i) => pool[i % pool.length] as SimSession,
    poolSize: spec.warmupMs === undefined ? pool.length : null,
    meanTurns: 1,
    warmup: spec.warmupMs === undefined ? { kind: 'pass' } : { kind: 'time', ms: spec.warmupMs },
    measureMs: spec.measureMs,
    sloTtftMs: spec.sloTtftMs,
    arrivalCv: 1,
  };
  return { spec, prompts, des };
}

export interface Arrival {
  /** Simulated ms from the start of the run. */
  readonly atMs: number;
  /** Index into the prompt set (cycled). */
  readonly prompt: number;
  readonly measured: boolean;
}

/**
 * Poisson arrivals exactly as src/sim/des/runner.ts draws them for the same seed and rate (same generator, same
 * warm-up rule: one pass over the prompt set or `warmupMs`, then `measureMs` of measured arrivals), so that the discrete-event
 * reference and the real-time run offer the very same request sequence.
 */
export function arrivals(w: E2eWorkload, qps: number, seed: number, measureMs = w.spec.measureMs): Arrival[] {
  const rng = createSeededRng(seed * 7919 + 17);
  const rate = qps / 1000;
  const poolSize = w.prompts.length;
  const times: number[] = [];
  let warmupEnd = w.spec.warmupMs ?? Number.POSITIVE_INFINITY;
  for (let t = 0; ; ) {
    t += -Math.log(1 - rng.next()) / rate;
    if (w.spec.warmupMs === undefined && times.length === poolSize) warmupEnd = t;
    if (t > warmupEnd + measureMs) break;
    times.push(t);
  }
  return times.map((t, i) => ({ atMs: t, prompt: i % poolSize, measured: t >= warmupEnd && t <= warmupEnd + measureMs }));
}

/**
 * A QPS ladder in one run (inference-perf stages): a warm-up pass over the prompt set at the first stage's rate,
 * then each stage's measured window of Poisson arrivals at its own rate. The prompt set keeps cycling.
 */
export function ladderArrivals(w: E2eWorkload, stages: readonly { qps: number; ms: number }[], seed: number): { atMs: number; prompt: number; stage: number | null }[] {
  const rng = createSeededRng(seed * 7919 + 23);
  const out: { atMs: number; prompt: number; stage: number | null }[] = [];
  const poolSize = w.prompts.length;
  let t = 0;
  const first = stages[0];
  if (!first) return out;
  for (let i = 0; i < poolSize; i++) {
    t += -Math.log(1 - rng.next()) / (first.qps / 1000);
    out.push({ atMs: t, prompt: out.length % poolSize, stage: null });
  }
  stages.forEach((s, k) => {
    const end = t + s.ms;
    for (;;) {
      const next = t - Math.log(1 - rng.next()) / (s.qps / 1000);
      if (next > end) break;
      t = next;
      out.push({ atMs: t, prompt: out.length % poolSize, stage: k });
    }
    t = end;
  });
  return out;
}
