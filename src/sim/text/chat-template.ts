/**
 * Renders a chat request into one prompt string, as a chat template would, before tokenizing. Tools come first so
 * that successive turns of a conversation share the longest possible prefix (what prefix caching and
 * prefix-affinity routing feed on).
 */
import { jsonText } from '../../core/index.js';

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let out = '';
  for (const part of content) {
    if (typeof part === 'string') out += part;
    else if (part && typeof part === 'object') {
      const p = part as Record<string, unknown>;
      if (typeof p['text'] === 'string') out += p['text'];
      else out += `<|${typeof p['type'] === 'string' ? p['type'] : 'part'}|>`;
    }
  }
  return out;
}

export function renderChatPrompt(messages: readonly Record<string, unknown>[], tools: readonly unknown[] | undefined): string {
  let out = '';
  if (tools && tools.length > 0) out += `<|tools|>${jsonText(tools)}<|end|>\n`;
  for (const m of messages) {
    // Routes validate messages as objects; the template still renders nothing, rather than throw, for one that is not.
    if (!m || typeof m !== 'object') continue;
    const role = typeof m['role'] === 'string' ? m['role'] : 'user';
    out += `<|${role}|>\n${contentText(m['content'])}`;
    if (Array.isArray(m['tool_calls'])) out += jsonText(m['tool_calls']);
    out += '<|end|>\n';
  }
  return `${out}<|assistant|>\n`;
}

/** The text of the last user message, for deciding whether `tool_choice: "auto"` calls a tool. */
export function lastUserText(messages: readonly Record<string, unknown>[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as Record<string, unknown> | null | undefined;
    if (m && typeof m === 'object' && m['role'] === 'user') return contentText(m['content']);
  }
  return '';
}
