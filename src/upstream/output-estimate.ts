/**
 * Output tokens of a non-streamed answer whose backend reported no usage (or counts no engine could report), estimated
 * from the text it carries: ~4 characters a token, as the gateway's other estimates. Without it such an answer was
 * charged no output at all, so a backend that leaves usage out made every answer free against token limits and quotas.
 * Only that rare path parses the body.
 */
const CHARS_PER_TOKEN = 4;

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Characters of text in one content value: a string, or parts with `text` (chat, Responses, Messages). */
function textOf(content: unknown): number {
  if (typeof content === 'string') return content.length;
  let n = 0;
  for (const part of list(content)) {
    if (!isObj(part)) continue;
    if (typeof part.text === 'string') n += part.text.length;
    if (typeof part.arguments === 'string') n += part.arguments.length;
    if (part.input !== undefined) n += JSON.stringify(part.input).length;
  }
  return n;
}

function answerChars(body: Json): number {
  let n = 0;
  for (const choice of list(body.choices)) {
    if (!isObj(choice)) continue;
    if (typeof choice.text === 'string') n += choice.text.length; // legacy completions
    const m = choice.message;
    if (!isObj(m)) continue;
    n += textOf(m.content);
    for (const key of ['reasoning_content', 'reasoning']) if (typeof m[key] === 'string') n += (m[key] as string).length;
    for (const call of list(m.tool_calls)) if (isObj(call) && isObj(call.function) && typeof call.function.arguments === 'string') n += call.function.arguments.length;
  }
  for (const item of list(body.output)) if (isObj(item)) n += textOf(item.content) + (typeof item.arguments === 'string' ? item.arguments.length : 0); // Responses
  if (body.type === 'message') n += textOf(body.content); // Anthropic Messages
  return n;
}

export function estimateOutputTokens(data: Buffer): number {
  let body: unknown;
  try {
    body = JSON.parse(data.toString('utf8'));
  } catch {
    return 0;
  }
  return isObj(body) ? Math.ceil(answerChars(body) / CHARS_PER_TOKEN) : 0;
}
