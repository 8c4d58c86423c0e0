import { createVllmEngine, type VllmEngine, type VllmGauges } from '../engine/vllm.js';
import type { Scheduler } from '../engine/types.js';
import type { EngineMetrics } from '../../routing/state/engine-metrics.js';

/** One simulated replica: vLLM defaults for 8B on an H100 unless overridden. */
export interface BackendSpec {
  readonly speed?: number;
  readonly numGpuBlocks?: number;
}

export interface FleetMember {
  readonly id: string;
  readonly engine: VllmEngine;
}

export function createFleet(scheduler: Scheduler, specs: readonly BackendSpec[], seed: number): FleetMember[] {
  return specs.map((spec, i) => ({
    id: `http://sim-${i}:8000`,
    engine: createVllmEngine(scheduler, {
      seed: seed * 1000 + i + 1,
      histogramCap: 0,
      ...(spec.speed !== undefined ? { speed: spec.speed } : {}),
      ...(spec.numGpuBlocks !== undefined ? { numGpuBlocks: spec.numGpuBlocks } : {}),
    }),
  }));
}

/** What a scrape of the simulated vLLM's /metrics yields, normalised as routing's scraper would. */
export function gaugesToMetrics(g: VllmGauges): EngineMetrics {
  return {
    running: g.running,
    waiting: g.waiting,
    kvUsage: g.kvUsage,
    kvCapacityTokens: g.kvBlocksTotal * g.blockSize,
    blockSize: g.blockSize,
    prefixQueriesTokens: g.prefixQueriesTokens,
    prefixHitsTokens: g.prefixHitsTokens,
    promptTokensTotal: g.promptTokensTotal,
    generationTokensTotal: g.generationTokensTotal,
  };
}

export function homogeneous(n: number): BackendSpec[] {
  return Array.from({ length: n }, () => ({}));
}
