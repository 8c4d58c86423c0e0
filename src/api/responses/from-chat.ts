import { scalarText } from '../../core/index.js';
import { openaiFinishReason, type BackendUsage } from '../../upstream/index.js';
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
  /** The reasoning tokens among the output tokens, when the backend reports them (`completion_tokens_details`). */
  reasoningTokens?: number;
  /** Why an incomplete response stopped (`incomplete_details.reason`). */
  incompleteReason?: IncompleteReason | null;
  /** Why a failed response failed (OpenAI's `ResponseError`). */
  error?: { code: string; message: string } | null;
}

/** `resp_…` from the backend's `chatcmpl-…` id, so logs on both sides can be matched. */
export function responseIdFor(chatId: unknown): string {
  const s = typeof chatId === 'string' && chatId.length > 0 ? chatId : `${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
  return `resp_${s.replace(/^chatcmpl-/, '')}`;
}

export type IncompleteReason = 'max_output_tokens' | 'content_filter';

/**
 * Why a chat choice stopped short, in the Responses API's words (`incomplete_details.reason`), or null when it
 * finished. The engine's value is read as the chat relay maps it (finish-reason.ts): TGI's or an Anthropic-style
 * `max_tokens` is the length limit there, so it is here too.
 */
export function incompleteReasonOf(finish: unknown): IncompleteReason | null {
  if (typeof finish !== 'string') return null;
  const reason = openaiFinishReason(finish, 'chat');
  return reason === 'length' ? 'max_output_tokens' : reason === 'content_filter' ? 'content_filter' : null;
}

/** `usage.completion_tokens_details.reasoning_tokens` of a chat completion or chunk (vLLM, SGLang with a reasoning parser), else 0. */
export function reasoningTokensOf(usage: unknown): number {
  const details = usage && typeof usage === 'object' ? (usage as Json).completion_tokens_details : null;
  const n = details && typeof details === 'object' ? (details as Json).reasoning_tokens : null;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : 0;
}

export function usageOf(u: BackendUsage | null, reasoningTokens = 0): Json | null {
  if (!u) return null;
  return {
    input_tokens: u.promptTokens,
    input_tokens_details: { cached_tokens: u.cachedTokens, cache_write_tokens: 0 },
    output_tokens: u.completionTokens,
    output_tokens_details: { reasoning_tokens: Math.min(reasoningTokens, u.completionTokens) },
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
    incomplete_details: s.status === 'incomplete' ? { reason: s.incompleteReason ?? 'max_output_tokens' } : null,
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
    ...(done && s.usage ? { usage: usageOf(s.usage, s.reasoningTokens) } : {}),
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
  const incompleteReason = incompleteReasonOf(choice.finish_reason);
  const incomplete = incompleteReason !== null;
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
    reasoningTokens: reasoningTokensOf(chat.usage),
    incompleteReason,
  };
  return responseObject(req, state);
}
