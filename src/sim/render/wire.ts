/** Wire-format pieces shared by the chat and completions renderers. */
import type { Usage } from '../generation/runner.js';
import type { TopLogprob } from '../text/generator.js';
import type { Personality } from '../types.js';

export interface WireHeader {
  id: string;
  created: number;
  model: string;
  personality: Personality;
}

/**
 * vLLM reports prefix-cache hits in `prompt_tokens_details.cached_tokens`; the others send no details (OpenAI's schema
 * types the field as an object, so omitting it validates where `null` would not).
 */
export function usageWire(personality: Personality, u: Usage): Record<string, unknown> {
  const base: Record<string, unknown> = {
    prompt_tokens: u.prompt_tokens,
    total_tokens: u.total_tokens,
    completion_tokens: u.completion_tokens,
  };
  if (personality === 'vllm') base['prompt_tokens_details'] = { cached_tokens: u.cached_tokens };
  return base;
}

export function utf8Bytes(token: string): number[] {
  return [...Buffer.from(token, 'utf8')];
}

export function chatTokenLogprob(t: TopLogprob & { top: TopLogprob[] }): Record<string, unknown> {
  return {
    token: t.token,
    logprob: t.logprob,
    bytes: utf8Bytes(t.token),
    top_logprobs: t.top.map((a) => ({ token: a.token, logprob: a.logprob, bytes: utf8Bytes(a.token) })),
  };
}

/** Character offset of every piece within the joined text. */
export function textOffsets(pieces: readonly string[], start = 0): number[] {
  const out: number[] = [];
  let pos = start;
  for (const p of pieces) {
    out.push(pos);
    pos += p.length;
  }
  return out;
}

/**
 * `data: {"id":..,"object":..,"created":..,"model":..,"choices":[` is the same for every chunk of a response, so it
 * is serialised once; each chunk then only stringifies its choice.
 */
export function chunkPrefix(h: WireHeader, object: string): string {
  return `data: {"id":${JSON.stringify(h.id)},"object":"${object}","created":${h.created},"model":${JSON.stringify(h.model)},"choices":[`;
}
