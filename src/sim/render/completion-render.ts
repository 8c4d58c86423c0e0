/** Legacy completion responses and stream chunks, shaped as OpenAI's CreateCompletionResponse (both share it). */
import type { ChoicePlan } from '../generation/plan.js';
import type { Renderer, Usage } from '../generation/runner.js';
import { chunkPrefix, textOffsets, usageWire, type WireHeader } from './wire.js';

/** Offsets are computed once per choice, not once per streamed token. */
const offsetCache = new WeakMap<ChoicePlan, number[]>();
function offsetsOf(plan: ChoicePlan): number[] {
  let o = offsetCache.get(plan);
  if (!o) offsetCache.set(plan, (o = textOffsets(plan.pieces)));
  return o;
}

function logprobsFor(plan: ChoicePlan, from: number, to: number): Record<string, unknown> | null {
  if (!plan.logprobs) return null;
  const slice = plan.logprobs.slice(from, to);
  return {
    text_offset: offsetsOf(plan).slice(from, to),
    token_logprobs: slice.map((t) => t.logprob),
    tokens: slice.map((t) => t.token),
    top_logprobs: slice.map((t) => Object.fromEntries(t.top.map((a) => [a.token, a.logprob]))),
  };
}

/**
 * `echo`: the prompt text of each prompt (by promptIndex), put before the completion as vLLM does, in the body's text
 * and as the first streamed text of each choice. Logprobs stay those of the completion's tokens, their offsets
 * counted from the start of the echoed text.
 */
export function createCompletionRenderer(h: WireHeader & { echo?: readonly string[] | null }): Renderer {
  const echoOf = (plan: ChoicePlan): string => h.echo?.[plan.promptIndex] ?? '';
  const shifted = (plan: ChoicePlan, lp: Record<string, unknown> | null): Record<string, unknown> | null => {
    const e = echoOf(plan).length;
    return lp && e > 0 ? { ...lp, text_offset: (lp.text_offset as number[]).map((o) => o + e) } : lp;
  };
  const prefix = chunkPrefix(h, 'text_completion');
  const vllmLike = h.personality === 'vllm';
  const frame = (choice: Record<string, unknown>, usage: Usage | null): string =>
    usage
      ? `${prefix}${JSON.stringify(choice)}],"usage":${JSON.stringify(usageWire(h.personality, usage))}}\n\n`
      : `${prefix}${JSON.stringify(choice)}]}\n\n`;

  return {
    tokenFrames(plan, i, usage) {
      const text = (i === 0 ? echoOf(plan) : '') + (plan.pieces[i] ?? '');
      return frame({ index: plan.index, text, logprobs: shifted(plan, logprobsFor(plan, i, i + 1)), finish_reason: null }, usage);
    },
    finishFrames(plan, usage) {
      const choice: Record<string, unknown> = { index: plan.index, text: '', logprobs: null, finish_reason: plan.finishReason };
      if (vllmLike) choice['stop_reason'] = plan.stopReason;
      return frame(choice, usage ?? null);
    },
    usageFrame(usage: Usage) {
      return `${prefix}],"usage":${JSON.stringify(usageWire(h.personality, usage))}}\n\n`;
    },
    body(choices, usage) {
      return JSON.stringify({
        id: h.id,
        object: 'text_completion',
        created: h.created,
        model: h.model,
        choices: choices.map((plan) => {
          const choice: Record<string, unknown> = {
            index: plan.index,
            text: echoOf(plan) + plan.pieces.join(''),
            logprobs: shifted(plan, logprobsFor(plan, 0, plan.pieces.length)),
            // A tool call is never planned for completions, so the reason is stop or length.
            finish_reason: plan.finishReason,
          };
          if (vllmLike) choice['stop_reason'] = plan.stopReason;
          return choice;
        }),
        usage: usageWire(h.personality, usage),
      });
    },
  };
}
