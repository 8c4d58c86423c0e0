import { jsonText, type Endpoint } from '../core/index.js';
import type { ChatRequest, CompletionRequest, EmbeddingRequest, WireRequest } from './wire.js';

/** Only strings are interpolated: a template literal runs an object's `toString` key, and `{"toString":1}` throws. */
function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/**
 * The prompt as a chat template would lay it out, used for prefix-affinity hashing and for a first token estimate.
 * Only text matters for routing; image parts contribute their URL so that two different images do not collide.
 */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let out = '';
  for (const part of content) {
    if (typeof part === 'string') out += part;
    if (!part || typeof part !== 'object') continue;
    const p = part as Record<string, unknown>;
    if (typeof p.text === 'string') out += p.text;
    else if (p.image_url && typeof p.image_url === 'object') out += str((p.image_url as { url?: unknown }).url);
  }
  return out;
}

export function renderPrompt(endpoint: Endpoint, req: WireRequest): string {
  if (endpoint === 'chat') {
    const chat = req as ChatRequest;
    let out = chat.tools && chat.tools.length > 0 ? `<tools>${jsonText(chat.tools)}</tools>\n` : '';
    for (const m of chat.messages as readonly unknown[]) {
      const msg = m !== null && typeof m === 'object' ? (m as Record<string, unknown>) : {};
      out += `<|${str(msg.role)}|>\n${contentText(msg.content)}\n`;
    }
    return out;
  }
  const input = endpoint === 'completions' ? (req as CompletionRequest).prompt : (req as EmbeddingRequest).input;
  if (typeof input === 'string') return input;
  if (input.length > 0 && typeof input[0] === 'string') return (input as string[]).join('\n');
  return '';
}

/** Token ids sent directly (completions/embeddings with token arrays) count exactly. */
export function tokenIdCount(endpoint: Endpoint, req: WireRequest): number {
  if (endpoint === 'chat') return 0;
  const input = endpoint === 'completions' ? (req as CompletionRequest).prompt : (req as EmbeddingRequest).input;
  if (typeof input === 'string' || input.length === 0) return 0;
  if (typeof input[0] === 'number') return input.length;
  if (Array.isArray(input[0])) return (input as number[][]).reduce((n, a) => n + a.length, 0);
  return 0;
}
