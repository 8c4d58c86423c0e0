/** Chat completion responses and stream chunks, shaped as OpenAI's CreateChatCompletion(Stream)Response. */
import type { ChoicePlan } from '../generation/plan.js';
import type { Renderer, Usage } from '../generation/runner.js';
import { chatTokenLogprob, chunkPrefix, usageWire, type WireHeader } from './wire.js';

function logprobsFor(plan: ChoicePlan, from: number, to: number): Record<string, unknown> | null {
  if (!plan.logprobs) return null;
  return { content: plan.logprobs.slice(from, to).map(chatTokenLogprob), refusal: null };
}

export function createChatRenderer(h: WireHeader): Renderer {
  const prefix = chunkPrefix(h, 'chat.completion.chunk');
  const vllmLike = h.personality === 'vllm';
  const frame = (choice: Record<string, unknown>, usage: Usage | null): string =>
    usage
      ? `${prefix}${JSON.stringify(choice)}],"usage":${JSON.stringify(usageWire(h.personality, usage))}}\n\n`
      : `${prefix}${JSON.stringify(choice)}]}\n\n`;

  return {
    tokenFrames(plan, i, usage) {
      let out = '';
      if (i === 0) {
        out += frame({ index: plan.index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }, usage);
        if (plan.toolCall) {
          const call = { index: 0, id: plan.toolCall.id, type: 'function', function: { name: plan.toolCall.name, arguments: '' } };
          out += frame({ index: plan.index, delta: { tool_calls: [call] }, logprobs: null, finish_reason: null }, usage);
        }
      }
      const piece = plan.pieces[i] ?? '';
      const delta = plan.toolCall ? { tool_calls: [{ index: 0, function: { arguments: piece } }] } : { content: piece };
      return out + frame({ index: plan.index, delta, logprobs: logprobsFor(plan, i, i + 1), finish_reason: null }, usage);
    },
    finishFrames(plan, usage) {
      const choice: Record<string, unknown> = { index: plan.index, delta: {}, logprobs: null, finish_reason: plan.finishReason };
      if (vllmLike) choice['stop_reason'] = plan.stopReason;
      return frame(choice, usage ?? null);
    },
    usageFrame(usage) {
      return `${prefix}],"usage":${JSON.stringify(usageWire(h.personality, usage))}}\n\n`;
    },
    body(choices, usage) {
      return JSON.stringify({
        id: h.id,
        object: 'chat.completion',
        created: h.created,
        model: h.model,
        choices: choices.map((plan) => {
          const text = plan.pieces.join('');
          const message: Record<string, unknown> = plan.toolCall
            ? {
                role: 'assistant',
                content: null,
                refusal: null,
                tool_calls: [{ id: plan.toolCall.id, type: 'function', function: { name: plan.toolCall.name, arguments: text } }],
              }
            : { role: 'assistant', content: text, refusal: null };
          const choice: Record<string, unknown> = {
            index: plan.index,
            message,
            logprobs: logprobsFor(plan, 0, plan.pieces.length),
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
