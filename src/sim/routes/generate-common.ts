/** Checks and option handling shared by /v1/chat/completions and /v1/completions. */
import type { ServerResponse } from 'node:http';
import { resolveModel, type SimContext } from '../context.js';
import type { ResponseScope } from '../generation/runner.js';
import { SimHttpError } from '../personality/errors.js';
import type { SimFault } from '../types.js';

/** One parsed HTTP request handed to a route. */
export interface RouteRequest {
  readonly res: ServerResponse;
  readonly body: unknown;
  /** Header and server-wide fault layers, already merged; routes add the body's `sim_fault` under the header. */
  readonly headerFault: SimFault;
  readonly serverFault: SimFault | null;
  readonly scope: ResponseScope;
}

interface CommonFields {
  model?: string | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null; continuous_usage_stats?: boolean | null } | null;
  stop?: string | string[] | null;
  seed?: number | null;
}

export function checkModel(ctx: SimContext, requested: string | null | undefined): string {
  const model = resolveModel(ctx, requested);
  if (model === null) throw new SimHttpError(404, `The model \`${String(requested)}\` does not exist.`, 'model');
  return model;
}

/** vLLM rejects stream_options on a non-streaming request; the simulator does so for every personality. */
export function streamFlags(b: CommonFields): { stream: boolean; includeUsage: boolean; continuousUsage: boolean } {
  const stream = b.stream === true;
  if (b.stream_options && !stream) {
    throw new SimHttpError(400, 'Stream options can only be defined when `stream=True`.', 'stream_options');
  }
  return {
    stream,
    includeUsage: stream && b.stream_options?.include_usage === true,
    continuousUsage: stream && b.stream_options?.continuous_usage_stats === true,
  };
}

export function stopList(stop: string | string[] | null | undefined): string[] {
  if (stop === null || stop === undefined) return [];
  return typeof stop === 'string' ? [stop] : stop;
}

/** Request seeds may exceed 32 bits (and lose precision in JSON.parse); only determinism matters here. */
export function requestSeed(seed: number | null | undefined): number {
  return seed === null || seed === undefined ? 0 : Math.floor(Math.abs(seed) % 4294967296);
}

export function checkContextLength(ctx: SimContext, promptTokens: number, maxTokens: number | null, kind: string): void {
  const total = promptTokens + (maxTokens ?? 0);
  if (total <= ctx.maxModelLen) return;
  throw new SimHttpError(
    400,
    `This model's maximum context length is ${ctx.maxModelLen} tokens. However, you requested ${total} tokens ` +
      `(${promptTokens} in the ${kind}, ${maxTokens ?? 0} in the completion). Please reduce the length of the ${kind} or completion.`,
    'max_tokens',
  );
}

export function unixSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
