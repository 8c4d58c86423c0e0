import { createVllmEngine } from '../engine/vllm.js';
import { LLAMA_8B_H100 } from '../engine/vllm.js';
import { VirtualScheduler } from './virtual-scheduler.js';

/**
 * What a router can reach at best: the "unloaded floor" of a run's measured requests. For each request, the longest
 * prefix it shares with the workload's *other* content sent before it (another prompt's blocks, or an earlier turn's
 * prompt and answer) is what some replica could hold warm; the floor is its TTFT when sent alone to an idle replica
 * (the fleet's fastest) that already holds that prefix, measured by the simulator's own engine (same cost model and
 * jitter). Identical repeats of the same prompt do not count as shared: the benchmark cycles a finite prompt set whose
 * full prompts do not fit the fleet's KV cache (b2b-saas: 1,140 × 7,200 tokens against 8 × 467k), so their whole-prompt
 * hits are luck, not something a policy can deliver for every request.
 */
export class SharedPrefixTracker {
  readonly #blockSize: number;
  /** Chain hash of a block → identity of the one prompt that contributed it, or MULTI when several did. */
  readonly #owners = new Map<number, number>();

  constructor(blockSize = 16) {
    this.#blockSize = blockSize;
  }

  /**
   * Tokens (whole blocks) of `promptIds` already sent as part of some other prompt or answer; then records this
   * prompt (and its answer, when the next turn will resend it) for the requests after it.
   */
  observe(promptIds: Int32Array, outputIds: Int32Array | null): number {
    const chain = chainHashes(promptIds, this.#blockSize);
    const id = identity(promptIds);
    let shared = 0;
    for (const h of chain) {
      const owner = this.#owners.get(h);
      if (owner === undefined || owner === id) break;
      shared++;
    }
    this.#record(chain, id);
    if (outputIds && outputIds.length > 0) {
      const all = new Int32Array(promptIds.length + outputIds.length);
      all.set(promptIds);
      all.set(outputIds, promptIds.length);
      this.#record(chainHashes(all, this.#blockSize), id);
    }
    return shared * this.#blockSize;
  }

  #record(chain: readonly number[], id: number): void {
    for (const h of chain) {
      const owner = this.#owners.get(h);
      if (owner === undefined) this.#owners.set(h, id);
      else if (owner !== id && owner !== MULTI) this.#owners.set(h, MULTI);
    }
  }
}

const MULTI = -1;

/** Chained hashes of every full block (53-bit numbers: two 32-bit mixes; collisions are negligible here). */
export function chainHashes(ids: Int32Array, blockSize: number): number[] {
  const out: number[] = [];
  let h1 = 0x9747b28c | 0;
  let h2 = 0x5bd1e995 | 0;
  const full = Math.floor(ids.length / blockSize) * blockSize;
  for (let i = 0; i < full; i++) {
    const v = ids[i] as number;
    h1 = Math.imul(h1 ^ v, 0x01000193) ^ (h1 >>> 15);
    h2 = Math.imul(h2 + v, 0x85ebca6b) ^ (h2 >>> 13);
    if ((i + 1) % blockSize === 0) out.push((h1 >>> 0) * 2097152 + ((h2 >>> 0) & 0x1fffff));
  }
  return out;
}

/** A prompt's identity: a hash of all its tokens and its length (never MULTI). */
function identity(ids: Int32Array): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < ids.length; i++) h = Math.imul(h ^ (ids[i] as number), 0x01000193);
  return (h >>> 0) * 64 + (ids.length % 64);
}

export interface FloorSample {
  /** TTFT alone on an idle replica holding the shared prefix (ms). */
  readonly idleMs: number;
  /** Engine steps its prefill takes there (each also carries the decode batch on a loaded replica). */
  readonly steps: number;
}

/** Replays one request on a fresh idle engine whose cache holds its first `shared` tokens. */
export function idleTtft(promptIds: Int32Array, shared: number, speed: number, seed: number): FloorSample {
  const sched = new VirtualScheduler();
  const blocks = Math.ceil((promptIds.length + 2) / 16) * 2 + 16;
  const engine = createVllmEngine(sched, { seed, speed, numGpuBlocks: blocks, histogramCap: 0 });
  if (shared >= 16) {
    engine.submit({ id: 'warm', promptTokenIds: promptIds.subarray(0, shared), outputTokens: 1 }, { onToken() {}, onFinish() {} });
    sched.run();
  }
  const start = sched.now();
  const before = engine.gauges().steps;
  let ttft = Number.NaN;
  let steps = 0;
  engine.submit(
    { id: 'probe', promptTokenIds: promptIds, outputTokens: 1 },
    {
      onToken(i) {
        if (i === 0) {
          ttft = sched.now() - start;
          steps = engine.gauges().steps - before;
        }
      },
      onFinish() {},
    },
  );
  sched.run();
  return { idleMs: ttft, steps: Math.max(1, steps) };
}

/**
 * The floor on a replica that is not idle but busy with its share of the fleet's decode batch (`decodeSeqs` sequences
 * reading `decodeContext` tokens of context per step; routing-research.md §6.2 item 5): the request first waits for the
 * step in progress when it arrives (`phase` ∈ [0, 1) of one decode step: an engine never interrupts a step), then
 * every one of its prefill steps also carries that decode batch. No queueing behind other prefills is added, so this
 * is still a lower bound for any router at that load.
 */
export function loadedFloorMs(sample: FloorSample, decodeSeqs: number, decodeContext: number, speed: number, phase: number): number {
  const k = LLAMA_8B_H100;
  const batch = k.perDecodeSeq * decodeSeqs + k.perKiloContext * (decodeContext / 1000);
  const step = decodeSeqs > 0 ? k.t0 + batch : 0;
  return sample.idleMs + (phase * step + sample.steps * batch) / speed;
}

/** Deterministic, evenly spread phases in [0, 1) (golden-ratio sequence) for the arrival-in-step wait. */
export function phaseOf(i: number): number {
  const x = (i + 1) * 0.6180339887498949;
  return x - Math.floor(x);
}
