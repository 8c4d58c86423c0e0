import { z } from 'zod';
import { depthWithin, jsonText } from '../../core/index.js';
import { MAX_TOOLS_DEPTH } from '../wire.js';

/**
 * The fields of an Anthropic Messages request (`POST /v1/messages`, `/v1/messages/count_tokens`) the gateway reads:
 * what it routes on and what it estimates the prompt from. Loose: the rest reaches the backend byte for byte.
 *
 * Content blocks as Anthropic types them: objects with a `type`, a text block's `text` a string. Engines index into
 * these (vLLM's Anthropic server, the simulator); a `null` block that reached one was a 500 from the backend, and
 * enough of those ejected every backend as unhealthy. So malformed blocks are the client's 400 here.
 */
const textBlock = z.looseObject({ type: z.literal('text'), text: z.string() });
const contentBlock = z.looseObject({ type: z.string().min(1) }).superRefine((b, ctx) => {
  if (b.type === 'text' && typeof b.text !== 'string') ctx.addIssue({ code: 'invalid_type', expected: 'string', path: ['text'], input: b.text });
});
const message = z.looseObject({ role: z.string().min(1), content: z.union([z.string(), z.array(contentBlock)]) });
const base = {
  model: z.string().min(1).max(256),
  messages: z.array(message).min(1, 'messages must contain at least one message'),
  system: z.union([z.string(), z.array(textBlock)]).nullish(),
  tools: z
    .array(z.looseObject({ name: z.string().min(1) }))
    .nullish()
    .refine((t) => t == null || depthWithin(t, MAX_TOOLS_DEPTH), `tools are nested more than ${MAX_TOOLS_DEPTH} levels deep`),
};
export const messagesRequest = z.looseObject({ ...base, max_tokens: z.number().int().positive(), stream: z.boolean().nullish() });
export const countRequest = z.looseObject(base);

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let out = '';
  for (const b of content) if (b && typeof b === 'object' && typeof (b as { text?: unknown }).text === 'string') out += (b as { text: string }).text;
  return out;
}

export function promptText(b: z.infer<typeof countRequest>): string {
  let out = b.tools && b.tools.length > 0 ? `<tools>${jsonText(b.tools)}</tools>\n` : '';
  if (b.system) out += `<|system|>\n${textOf(b.system)}\n`;
  for (const m of b.messages) out += `<|${typeof m.role === 'string' ? m.role : ''}|>\n${textOf(m.content)}\n`;
  return out;
}

