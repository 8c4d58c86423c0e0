import { scalarText } from '../../core/index.js';
import type { BackendUsage } from '../../upstream/index.js';
import type { ResponsesRequest } from './wire.js';

/** Chat completions answers as Responses API objects (OpenAI's `Response`, its output items and usage). */
type Json = Record<string, unknown>;

export interface OutputState {
  readonly id: string;
  readonly createdAt: number;
  model: string;
  status: 'in_progress' | 'completed' | 'incomplete' | 'failed';
  output: Json[];
  usage: BackendUsage | null;
  /** Why a failed response failed (OpenAI's `ResponseError`). */
  error?: { code: string; message: string } | null;
}

/** `resp_…` from the backend's `chatcmpl-…` id, so logs on both sides can be matched. */
export function responseIdFor(chatId: unknown): string {
  const s = typeof chatId === 'string' && chatId.length > 0 ? chatId : `${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
  return `resp_${s.replace(/^chatcmpl-/, '')}`;
}

export function usageOf(u: BackendUsage | null): Json | null {
  if (!u) return null;
  return {
    input_tokens: u.promptTokens,
    input_tokens_details: { cached_tokens: u.cachedTokens, cache_write_tokens: 0 },
    output_tokens: u.completionTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: u.promptTokens + u.completionTokens,
  };
}

/** The whole `Response` object, echoing the request's settings as OpenAI does. */
export function responseObject(req: ResponsesRequest, s: OutputState): Json {
  const done = s.status !== 'in_progress';
  return {
    id: s.id,
    object: 'response',
    created_at: s.createdAt,
    status: s.status,
    completed_at: s.status === 'completed' ? Math.floor(Date.now() / 1000) : null,
    error: s.error ?? null,
    incomplete_details: s.status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: req.instructions ?? null,
    max_output_tokens: req.max_output_tokens ?? null,
    model: s.model,
    output: s.output,
    parallel_tool_calls: req.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: { effort: ((req.reasoning ?? {}) as Json).effort ?? null, summary: null },
    store: false,
    temperature: req.temperature ?? 1,
    text: req.text ?? { format: { type: 'text' } },
    tool_choice: req.tool_choice ?? 'auto',
    tools: req.tools ?? [],
    top_p: req.top_p ?? 1,
    truncation: 'disabled',
    metadata: req.metadata ?? {},
    // `usage` is an object once the response is done and absent before (the spec has no null for it); `user` is a
    // string when present.
    ...(done && s.usage ? { usage: usageOf(s.usage) } : {}),
    // `user` is a string when present (the spec has no null for it).
    ...(req.user ? { user: req.user } : {}),
  };
}

export function messageItem(id: string, text: string, status: 'in_progress' | 'completed' | 'incomplete', logprobs: Json[] = []): Json {
  return { id, type: 'message', status, role: 'assistant', content: status === 'in_progress' && text === '' ? [] : [textPart(text, logprobs)] };
}

export function textPart(text: string, logprobs: Json[] = []): Json {
  return { type: 'output_text', text, annotations: [], logprobs };
}

function tokenLogprob(t: Json): Json {
  return { token: scalarText(t.token, ''), logprob: typeof t.logprob === 'number' ? t.logprob : 0, bytes: Array.isArray(t.bytes) ? t.bytes : [] };
}

/**
 * A chat choice's token logprobs (`logprobs.content`, asked for when the client includes
 * `message.output_text.logprobs` or sets `top_logprobs`) in the Responses shape: the same fields, per output token.
 */
export function logprobsOf(choice: Json): Json[] {
  const content = ((choice.logprobs ?? null) as Json | null)?.content;
  if (!Array.isArray(content)) return [];
  return content
    .filter((t): t is Json => typeof t === 'object' && t !== null)
    .map((t) => ({ ...tokenLogprob(t), top_logprobs: Array.isArray(t.top_logprobs) ? (t.top_logprobs as unknown[]).filter((x): x is Json => typeof x === 'object' && x !== null).map(tokenLogprob) : [] }));
}

/** A reasoning item: what reasoning parsers (vLLM, SGLang) return as `reasoning_content` in chat. */
export function reasoningItem(id: string, text: string, status: 'in_progress' | 'completed' | 'incomplete'): Json {
  return { id, type: 'reasoning', summary: [], content: status === 'in_progress' && text === '' ? [] : [{ type: 'reasoning_text', text }], status };
}

/** The reasoning text of a chat message or delta: `reasoning_content` (vLLM, SGLang) or `reasoning` (newer vLLM). */
export function reasoningOf(m: Json): string {
  const r = m.reasoning_content ?? m.reasoning;
  return typeof r === 'string' ? r : '';
}

export function functionCallItem(id: string, callId: string, name: string, args: string, status: 'in_progress' | 'completed' | 'incomplete'): Json {
  return { id, type: 'function_call', call_id: callId, name, arguments: args, status };
}

/** A non-streamed chat completion → the `Response` a Responses API client expects. */
export function chatToResponse(req: ResponsesRequest, chat: Json, usage: BackendUsage | null): Json {
  const choice = ((chat.choices as Json[] | undefined) ?? [])[0] ?? {};
  const message = (choice.message ?? {}) as Json;
  const incomplete = choice.finish_reason === 'length';
  const itemStatus = incomplete ? 'incomplete' : 'completed';
  const base = responseIdFor(chat.id).slice('resp_'.length);
  const output: Json[] = [];
  const text = typeof message.content === 'string' ? message.content : '';
  const calls = (message.tool_calls as Json[] | undefined) ?? [];
  const reasoning = reasoningOf(message);
  if (reasoning.length > 0) output.push(reasoningItem(`rs_${base}`, reasoning, itemStatus));
  if (text.length > 0 || calls.length === 0) output.push(messageItem(`msg_${base}`, text, itemStatus, logprobsOf(choice)));
  calls.forEach((c, i) => {
    const fn = (c.function ?? {}) as Json;
    output.push(functionCallItem(`fc_${base}_${i}`, scalarText(c.id, `call_${base}_${i}`), scalarText(fn.name, ''), scalarText(fn.arguments, ''), itemStatus));
  });
  const state: OutputState = {
    id: responseIdFor(chat.id),
    createdAt: typeof chat.created === 'number' ? chat.created : Math.floor(Date.now() / 1000),
    model: scalarText(chat.model, req.model),
    status: incomplete ? 'incomplete' : 'completed',
    output,
    usage,
  };
  return responseObject(req, state);
}
