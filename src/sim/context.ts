/** What every route of one simulator instance shares. Built once at start; routes never mutate it. */
import { randomBytes } from 'node:crypto';
import type { Scheduler, SimEngine } from './engine/types.js';
import type { FrontStats } from './front-stats.js';
import type { Personality } from './types.js';

export interface SimContext {
  readonly personality: Personality;
  /** The primary served model id. */
  readonly model: string;
  /** Every accepted model id (primary first). */
  readonly models: readonly string[];
  readonly seed: number;
  readonly naturalTokens: number;
  readonly maxModelLen: number;
  readonly embeddingDim: number;
  readonly base64Embeddings: boolean;
  /** null in 'fast' mode. */
  readonly engine: SimEngine | null;
  readonly scheduler: Scheduler;
  readonly stats: FrontStats;
  readonly startedAtSec: number;
  /** Stored Responses API objects by id (vLLM with VLLM_ENABLE_RESPONSES_API_STORE), or null when storing is off. */
  readonly responseStore: Map<string, Record<string, unknown>> | null;
  /** A response id such as `chatcmpl-…`: random per process, then a counter (no crypto call per request). */
  nextId(prefix: string): string;
}

export function createIdSource(): (prefix: string) => string {
  const base = randomBytes(6).toString('hex');
  let n = 0;
  return (prefix) => `${prefix}-${base}${(++n).toString(16).padStart(6, '0')}`;
}

export function resolveModel(ctx: SimContext, requested: string | null | undefined): string | null {
  if (requested === undefined || requested === null) return ctx.model;
  return ctx.models.includes(requested) ? requested : null;
}
