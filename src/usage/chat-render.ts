import { jsonText } from '../core/index.js';

/**
 * What of a chat request turns into prompt tokens, as chat templates render it: per message the role, the name,
 * the text parts and tool calls, with fixed overheads for the template's framing. Numbers follow OpenAI's published
 * counting recipe (3 per message, 1 per name, 3 to prime the reply); for other templates they are close enough to
 * estimate and are corrected by the learned ratio.
 */
export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_NAME = 1;
export const REPLY_PRIMING = 3;
export const TOKENS_PER_TOOL_CALL = 3;
export const TOKENS_PER_TOOL = 8;
/** An image part: OpenAI's low-detail cost; high-detail tiles cannot be known without the image. */
export const TOKENS_PER_IMAGE = 85;

export interface RenderedMessage {
  /** Text that is tokenized (role, name, content text, tool-call names and arguments), newline-joined. */
  readonly text: string;
  /** Tokens that are not text: framing overheads and images. */
  readonly fixed: number;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function contentText(content: unknown, pieces: string[]): number {
  if (typeof content === 'string') {
    pieces.push(content);
    return 0;
  }
  let images = 0;
  if (Array.isArray(content)) {
    for (const part of content) {
      // A bare string part is text (vLLM takes it); other non-objects are nothing a template renders.
      if (typeof part === 'string') pieces.push(part);
      if (typeof part !== 'object' || part === null) continue;
      const p = part as Record<string, unknown>;
      if (typeof p.text === 'string') pieces.push(p.text);
      else if (p.type === 'image_url' || p.type === 'image') images++;
    }
  }
  return images * TOKENS_PER_IMAGE;
}

export function renderMessage(message: unknown): RenderedMessage {
  if (typeof message !== 'object' || message === null) return { text: '', fixed: TOKENS_PER_MESSAGE };
  const m = message as Record<string, unknown>;
  const pieces = [str(m.role)];
  let fixed = TOKENS_PER_MESSAGE;
  if (typeof m.name === 'string') {
    pieces.push(m.name);
    fixed += TOKENS_PER_NAME;
  }
  fixed += contentText(m.content, pieces);
  if (Array.isArray(m.tool_calls)) {
    for (const call of m.tool_calls) {
      const fn = typeof call === 'object' && call !== null ? (call as Record<string, unknown>).function : null;
      if (typeof fn !== 'object' || fn === null) continue;
      const f = fn as Record<string, unknown>;
      pieces.push(str(f.name), str(f.arguments));
      fixed += TOKENS_PER_TOOL_CALL;
    }
  }
  return { text: pieces.join('\n'), fixed };
}

/** How much text and how many fixed tokens a prompt holds, summed over its messages. */
export interface PromptSize {
  chars: number;
  fixed: number;
}

/**
 * Adds what `renderMessage(message)` would give (its text's length, its fixed tokens) to `into`, without building
 * the text: a model without a known tokenizer is estimated from characters alone, and rendering cost every request
 * an array, a joined string and an object per message for a length (test/usage/token-counter.test.ts compares the
 * two over generated messages).
 */
export function addMessageSize(message: unknown, into: PromptSize): void {
  into.fixed += TOKENS_PER_MESSAGE;
  if (typeof message !== 'object' || message === null) return;
  const m = message as Record<string, unknown>;
  // renderMessage joins its pieces with one newline each: the role is always a piece, so each further one adds 1.
  let chars = str(m.role).length;
  if (typeof m.name === 'string') {
    chars += 1 + m.name.length;
    into.fixed += TOKENS_PER_NAME;
  }
  const content = m.content;
  if (typeof content === 'string') chars += 1 + content.length;
  else if (Array.isArray(content)) {
    for (const part of content) {
      if (typeof part === 'string') chars += 1 + part.length;
      if (typeof part !== 'object' || part === null) continue;
      const p = part as Record<string, unknown>;
      if (typeof p.text === 'string') chars += 1 + p.text.length;
      else if (p.type === 'image_url' || p.type === 'image') into.fixed += TOKENS_PER_IMAGE;
    }
  }
  if (Array.isArray(m.tool_calls)) {
    for (const call of m.tool_calls) {
      const fn = typeof call === 'object' && call !== null ? (call as Record<string, unknown>).function : null;
      if (typeof fn !== 'object' || fn === null) continue;
      const f = fn as Record<string, unknown>;
      chars += 2 + str(f.name).length + str(f.arguments).length;
      into.fixed += TOKENS_PER_TOOL_CALL;
    }
  }
  into.chars += chars;
}

/**
 * Tool definitions are rendered into the system prompt; their JSON is a fair proxy for that text. Only object items
 * are tools: validation refuses anything else, and an estimate must not be what fails a request if one slips by.
 */
export function renderTools(tools: readonly unknown[] | undefined): RenderedMessage {
  if (!Array.isArray(tools) || tools.length === 0) return { text: '', fixed: 0 };
  const texts: string[] = [];
  for (const t of tools) {
    if (typeof t !== 'object' || t === null || Array.isArray(t)) continue;
    const fn = (t as Record<string, unknown>).function;
    texts.push(jsonText(fn ?? t));
  }
  return { text: texts.join('\n'), fixed: texts.length * TOKENS_PER_TOOL };
}
