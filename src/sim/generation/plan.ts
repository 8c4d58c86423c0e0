/**
 * Decides, before any time passes, everything a request will output: per choice the token pieces, the finish reason,
 * an optional tool call and logprobs. The engine then only decides *when* each token comes out.
 */
import { applyStop, choiceSeed, generateLogprobs, generatePieces, type TokenLogprob } from '../text/generator.js';
import { hashInts } from '../text/hash.js';
import { jsonPieces, toolArguments, type ToolSpec } from './tool-calls.js';

export type FinishReason = 'stop' | 'length' | 'tool_calls';

export interface ChoicePlan {
  /** The choice's `index` on the wire. */
  readonly index: number;
  /** Which prompt it answers (completions accept a batch of prompts; chat always 0). */
  readonly promptIndex: number;
  /** One entry per output token: a text piece, or a fragment of the tool call's arguments. */
  readonly pieces: string[];
  readonly finishReason: FinishReason;
  /** vLLM's `stop_reason`: the stop string that ended the text, else null. */
  readonly stopReason: string | null;
  readonly toolCall: { readonly id: string; readonly name: string } | null;
  readonly logprobs: TokenLogprob[] | null;
}

export interface LengthSpec {
  natural: number;
  maxTokens: number | null;
  minTokens: number;
  ignoreEos: boolean;
}

export interface ChoiceSpec extends LengthSpec {
  index: number;
  promptIndex: number;
  promptTokenIds: ArrayLike<number>;
  instanceSeed: number;
  requestSeed: number;
  stops: readonly string[];
  /** Number of top alternatives per token, or null for no logprobs at all. */
  topLogprobs: number | null;
  tool: ToolSpec | null;
  toolCallId: string;
  /** The JSON text a structured-output constraint makes the answer (structured.ts), or null. */
  structured?: string | null;
}

/** Output length and why it ended. `ignore_eos` makes max_tokens exact; max_tokens below the target truncates. */
export function planLength(spec: LengthSpec): { tokens: number; finish: 'stop' | 'length' } {
  if (spec.ignoreEos && spec.maxTokens !== null) return { tokens: spec.maxTokens, finish: 'length' };
  const target = Math.max(spec.natural, spec.minTokens);
  if (spec.maxTokens !== null && spec.maxTokens < target) return { tokens: spec.maxTokens, finish: 'length' };
  return { tokens: target, finish: 'stop' };
}

export function planChoice(spec: ChoiceSpec): ChoicePlan {
  const seed = choiceSeed(spec.instanceSeed, spec.requestSeed, hashInts(spec.promptTokenIds), spec.index);
  // A tool call or a guided (structured) answer is a fixed JSON text, cut by max_tokens like any answer.
  const json = spec.tool ? toolArguments(spec.tool) : (spec.structured ?? null);
  if (json !== null) {
    const pieces = jsonPieces(json);
    const truncated = spec.maxTokens !== null && spec.maxTokens < pieces.length;
    if (truncated) pieces.length = spec.maxTokens as number;
    return {
      index: spec.index,
      promptIndex: spec.promptIndex,
      pieces,
      finishReason: truncated ? 'length' : spec.tool ? 'tool_calls' : 'stop',
      stopReason: null,
      toolCall: spec.tool ? { id: spec.toolCallId, name: spec.tool.name } : null,
      logprobs: spec.topLogprobs === null ? null : generateLogprobs(seed, pieces, spec.topLogprobs),
    };
  }
  const { tokens, finish } = planLength(spec);
  const pieces = generatePieces(seed, tokens);
  const stopReason = applyStop(pieces, spec.stops);
  return {
    index: spec.index,
    promptIndex: spec.promptIndex,
    pieces,
    finishReason: stopReason !== null ? 'stop' : finish,
    stopReason,
    toolCall: null,
    logprobs: spec.topLogprobs === null ? null : generateLogprobs(seed, pieces, spec.topLogprobs),
  };
}
