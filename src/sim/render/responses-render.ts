/**
 * vLLM's Responses API on the wire: the `Response` object and its typed SSE events (`event: <type>` then `data:`),
 * numbered by `sequence_number`, ending with response.completed (no `[DONE]`). One renderer per request.
 */
import type { ChoicePlan } from '../generation/plan.js';
import type { Renderer, Usage } from '../generation/runner.js';

export interface ResponsesHeader {
  id: string;
  created: number;
  model: string;
  /** The request, echoed into the Response object as vLLM does. */
  request: Record<string, unknown>;
  stored: boolean;
}

function usageOf(u: Usage): Record<string, unknown> {
  return {
    input_tokens: u.prompt_tokens,
    input_tokens_details: { cached_tokens: u.cached_tokens, cache_write_tokens: 0 },
    output_tokens: u.completion_tokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: u.total_tokens,
  };
}

function item(h: ResponsesHeader, plan: ChoicePlan, status: string): Record<string, unknown> {
  const text = plan.pieces.join('');
  if (plan.toolCall) {
    return { id: `fc_${h.id.slice(5)}`, type: 'function_call', call_id: plan.toolCall.id, name: plan.toolCall.name, arguments: status === 'in_progress' ? '' : text, status };
  }
  const content = status === 'in_progress' ? [] : [{ type: 'output_text', text, annotations: [], logprobs: [] }];
  return { id: `msg_${h.id.slice(5)}`, type: 'message', status, role: 'assistant', content };
}

export function responseBody(h: ResponsesHeader, plans: readonly ChoicePlan[], status: string, usage: Usage | null): Record<string, unknown> {
  const r = h.request;
  const plan = plans[0];
  const final = status !== 'in_progress';
  return {
    id: h.id,
    object: 'response',
    created_at: h.created,
    status,
    completed_at: status === 'completed' ? Math.floor(Date.now() / 1000) : null,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: r.instructions ?? null,
    max_output_tokens: r.max_output_tokens ?? null,
    model: h.model,
    output: final && plan ? [item(h, plan, plan.finishReason === 'length' ? 'incomplete' : 'completed')] : [],
    parallel_tool_calls: r.parallel_tool_calls ?? true,
    previous_response_id: r.previous_response_id ?? null,
    reasoning: { effort: null, summary: null },
    store: h.stored,
    temperature: r.temperature ?? 1,
    text: r.text ?? { format: { type: 'text' } },
    tool_choice: r.tool_choice ?? 'auto',
    tools: r.tools ?? [],
    top_p: r.top_p ?? 1,
    truncation: 'disabled',
    metadata: r.metadata ?? {},
    ...(usage ? { usage: usageOf(usage) } : {}),
    ...(typeof r.user === 'string' ? { user: r.user } : {}),
  };
}

export function createResponsesRenderer(h: ResponsesHeader, onFinal: (body: Record<string, unknown>) => void): Renderer {
  let seq = 0;
  let plans: readonly ChoicePlan[] = [];
  const ev = (type: string, body: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...body, sequence_number: seq++ })}\n\n`;
  const statusOf = (p: ChoicePlan) => (p.finishReason === 'length' ? 'incomplete' : 'completed');
  return {
    doneFrame: '',
    tokenFrames(plan, i) {
      let out = '';
      const it = item(h, plan, 'in_progress');
      if (i === 0) {
        plans = [plan];
        const response = responseBody(h, [], 'in_progress', null);
        out += ev('response.created', { response }) + ev('response.in_progress', { response });
        out += ev('response.output_item.added', { output_index: 0, item: it });
        if (!plan.toolCall) out += ev('response.content_part.added', { item_id: it.id, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } });
      }
      const delta = plan.pieces[i] ?? '';
      if (plan.toolCall) return out + ev('response.function_call_arguments.delta', { item_id: it.id, output_index: 0, delta });
      return out + ev('response.output_text.delta', { item_id: it.id, output_index: 0, content_index: 0, delta, logprobs: [] });
    },
    finishFrames(plan) {
      const done = item(h, plan, statusOf(plan));
      if (plan.toolCall) {
        return ev('response.function_call_arguments.done', { item_id: done.id, output_index: 0, name: plan.toolCall.name, arguments: done.arguments }) + ev('response.output_item.done', { output_index: 0, item: done });
      }
      const text = plan.pieces.join('');
      const part = { type: 'output_text', text, annotations: [], logprobs: [] };
      return (
        ev('response.output_text.done', { item_id: done.id, output_index: 0, content_index: 0, text, logprobs: [] }) +
        ev('response.content_part.done', { item_id: done.id, output_index: 0, content_index: 0, part }) +
        ev('response.output_item.done', { output_index: 0, item: done })
      );
    },
    usageFrame(usage) {
      const status = plans[0] ? statusOf(plans[0]) : 'completed';
      const response = responseBody(h, plans, status, usage);
      onFinal(response);
      return ev(status === 'completed' ? 'response.completed' : 'response.incomplete', { response });
    },
    body(choices, usage) {
      const response = responseBody(h, choices, choices[0] ? statusOf(choices[0]) : 'completed', usage);
      onFinal(response);
      return JSON.stringify(response);
    },
  };
}
