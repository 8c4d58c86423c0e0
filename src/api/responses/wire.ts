import { z } from 'zod';
import { scalarText } from '../../core/index.js';

/**
 * The fields of a Responses API request (`POST /v1/responses`) the gateway reads: what it routes on and what it
 * translates for chat-only backends. Loose, like the chat schema: the rest reaches a native backend byte for byte.
 */
/** An input item: a message, a function call or its output, reasoning... each an object whose kind and role are names. */
const inputItem = z.looseObject({
  type: z.string().optional(),
  role: z.string().optional(),
  content: z.union([z.string(), z.array(z.looseObject({ type: z.string().optional() })), z.null()]).optional(),
});

export const responsesRequest = z.looseObject({
  model: z.string().min(1).max(256),
  input: z.union([z.string(), z.array(inputItem)]),
  instructions: z.string().nullish(),
  tools: z.array(z.looseObject({ type: z.string() })).nullish(),
  tool_choice: z.unknown().optional(),
  max_output_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  top_logprobs: z.number().int().nullish(),
  stream: z.boolean().nullish(),
  store: z.boolean().nullish(),
  background: z.boolean().nullish(),
  previous_response_id: z.string().nullish(),
  conversation: z.unknown().optional(),
  prompt: z.unknown().optional(),
  include: z.array(z.string()).nullish(),
  truncation: z.string().nullish(),
  text: z.unknown().optional(),
  reasoning: z.unknown().optional(),
  parallel_tool_calls: z.boolean().nullish(),
  user: z.string().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  prompt_cache_key: z.string().nullish(),
});

export type ResponsesRequest = z.infer<typeof responsesRequest>;

/** The prompt text for token estimates and prefix affinity: instructions, then every input item's text. */
export function responsesPromptText(req: ResponsesRequest): string {
  let out = req.instructions ? `<|system|>\n${req.instructions}\n` : '';
  if (typeof req.input === 'string') return `${out}<|user|>\n${req.input}\n`;
  for (const raw of req.input) {
    if (!raw || typeof raw !== 'object') continue;
    const item = raw as Record<string, unknown>;
    const content = item.content ?? item.output ?? item.arguments;
    if (typeof content === 'string') out += `<|${scalarText(item.role ?? item.type, 'user')}|>\n${content}\n`;
    else if (Array.isArray(content)) {
      for (const p of content) if (p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string') out += (p as { text: string }).text;
      out += '\n';
    }
  }
  return out;
}
