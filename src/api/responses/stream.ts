import { scalarText, type GatewayError } from '../../core/index.js';
import type { BackendUsage } from '../../upstream/index.js';
import type { EventTransform } from '../event-relay.js';
import { functionCallItem, incompleteReasonOf, logprobsOf, messageItem, reasoningItem, reasoningOf, reasoningTokensOf, responseIdFor, responseObject, textPart, type OutputState } from './from-chat.js';
import type { ResponsesRequest } from './wire.js';

type Json = Record<string, unknown>;

interface OpenText {
  readonly index: number;
  readonly id: string;
  text: string;
  /** The text's token logprobs so far (when the backend sends them). */
  readonly logprobs: Json[];
}
interface OpenCall {
  readonly index: number;
  readonly id: string;
  readonly callId: string;
  readonly name: string;
  args: string;
}

/** The SSE frame of one Responses event, named by its type as OpenAI sends them. */
function frame(type: string, body: Json): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...body })}\n\n`;
}

/** The `error` event of the Responses stream for a failure after the stream started. */
export function responsesErrorFrame(err: GatewayError, sequence: number): string {
  return frame('error', { code: err.wireCode ?? err.code, message: err.message, param: err.param, sequence_number: sequence });
}

/**
 * Chat completion chunks → the Responses API's typed events: response.created and in_progress on the first chunk,
 * output_item.added / content_part.added before the first text, output_text.delta per text delta,
 * function_call_arguments.delta per tool-call fragment, the matching *.done events when an item ends, and
 * response.completed (or response.incomplete at the length limit or a content filter) with usage after the backend's `[DONE]`.
 */
export class ChatToResponsesStream implements EventTransform {
  done = false;
  failed = false;
  contentEvents = 0;
  #seq = 0;
  #state: OutputState | null = null;
  #text: OpenText | null = null;
  #reasoning: OpenText | null = null;
  #calls = new Map<number, OpenCall>();
  #finish: string | null = null;
  #usage: BackendUsage | null = null;
  #reasoningTokens = 0;
  #error: string | null = null;

  constructor(private readonly req: ResponsesRequest) {}

  #emit(type: string, body: Json): string {
    return frame(type, { ...body, sequence_number: this.#seq++ });
  }

  #start(chunk: Json): string {
    this.#state = {
      id: responseIdFor(chunk.id),
      createdAt: typeof chunk.created === 'number' ? chunk.created : Math.floor(Date.now() / 1000),
      model: scalarText(chunk.model, this.req.model),
      status: 'in_progress',
      output: [],
      usage: null,
    };
    const response = responseObject(this.req, this.#state);
    return this.#emit('response.created', { response }) + this.#emit('response.in_progress', { response });
  }

  #itemId(prefix: string, index: number): string {
    return `${prefix}_${this.#state!.id.slice('resp_'.length)}_${index}`;
  }

  #closeReasoning(status: 'completed' | 'incomplete'): string {
    const r = this.#reasoning;
    if (!r) return '';
    this.#reasoning = null;
    const item = reasoningItem(r.id, r.text, status);
    this.#state!.output[r.index] = item;
    const loc = { item_id: r.id, output_index: r.index, content_index: 0 };
    return (
      this.#emit('response.reasoning_text.done', { ...loc, text: r.text }) +
      this.#emit('response.content_part.done', { ...loc, part: { type: 'reasoning_text', text: r.text } }) +
      this.#emit('response.output_item.done', { output_index: r.index, item })
    );
  }

  #reasoningDelta(delta: string): string {
    let out = '';
    if (!this.#reasoning) {
      const index = this.#state!.output.length;
      const id = this.#itemId('rs', index);
      this.#reasoning = { index, id, text: '', logprobs: [] };
      const item = reasoningItem(id, '', 'in_progress');
      this.#state!.output.push(item);
      out += this.#emit('response.output_item.added', { output_index: index, item });
      // OpenAI opens the reasoning_text part before its deltas; the SDKs' accumulators need it to add the text to.
      out += this.#emit('response.content_part.added', { item_id: id, output_index: index, content_index: 0, part: { type: 'reasoning_text', text: '' } });
    }
    this.#reasoning.text += delta;
    this.contentEvents++;
    return out + this.#emit('response.reasoning_text.delta', { item_id: this.#reasoning.id, output_index: this.#reasoning.index, content_index: 0, delta });
  }

  #closeText(status: 'completed' | 'incomplete'): string {
    const t = this.#text;
    if (!t) return '';
    this.#text = null;
    const loc = { item_id: t.id, output_index: t.index, content_index: 0 };
    const item = messageItem(t.id, t.text, status, t.logprobs);
    this.#state!.output[t.index] = item;
    return (
      this.#emit('response.output_text.done', { ...loc, text: t.text, logprobs: t.logprobs }) +
      this.#emit('response.content_part.done', { ...loc, part: textPart(t.text, t.logprobs) }) +
      this.#emit('response.output_item.done', { output_index: t.index, item })
    );
  }

  #closeCalls(status: 'completed' | 'incomplete'): string {
    let out = '';
    for (const c of this.#calls.values()) {
      const item = functionCallItem(c.id, c.callId, c.name, c.args, status);
      this.#state!.output[c.index] = item;
      out += this.#emit('response.function_call_arguments.done', { item_id: c.id, output_index: c.index, name: c.name, arguments: c.args });
      out += this.#emit('response.output_item.done', { output_index: c.index, item });
    }
    this.#calls.clear();
    return out;
  }

  #textDelta(delta: string, logprobs: Json[]): string {
    let out = this.#closeReasoning('completed');
    if (!this.#text) {
      const index = this.#state!.output.length;
      const id = this.#itemId('msg', index);
      this.#text = { index, id, text: '', logprobs: [] };
      this.#state!.output.push(messageItem(id, '', 'in_progress'));
      out += this.#emit('response.output_item.added', { output_index: index, item: messageItem(id, '', 'in_progress') });
      out += this.#emit('response.content_part.added', { item_id: id, output_index: index, content_index: 0, part: textPart('') });
    }
    this.#text.text += delta;
    for (const l of logprobs) this.#text.logprobs.push(l);
    this.contentEvents++;
    return out + this.#emit('response.output_text.delta', { item_id: this.#text.id, output_index: this.#text.index, content_index: 0, delta, logprobs });
  }

  #toolDelta(tc: Json): string {
    const key = typeof tc.index === 'number' ? tc.index : 0;
    const fn = (tc.function ?? {}) as Json;
    let out = '';
    let call = this.#calls.get(key);
    if (!call) {
      out += this.#closeReasoning('completed') + this.#closeText('completed');
      const index = this.#state!.output.length;
      const id = this.#itemId('fc', index);
      call = { index, id, callId: scalarText(tc.id, `call_${id}`), name: scalarText(fn.name, ''), args: '' };
      this.#calls.set(key, call);
      const item = functionCallItem(id, call.callId, call.name, '', 'in_progress');
      this.#state!.output.push(item);
      out += this.#emit('response.output_item.added', { output_index: index, item });
    }
    const delta = typeof fn.arguments === 'string' ? fn.arguments : '';
    if (delta.length > 0) {
      call.args += delta;
      this.contentEvents++;
      out += this.#emit('response.function_call_arguments.delta', { item_id: call.id, output_index: call.index, delta });
    }
    return out;
  }

  event(data: string): string | null {
    if (this.done || data.length === 0) return null;
    if (data === '[DONE]') {
      this.done = true;
      return null;
    }
    let chunk: Json;
    try {
      chunk = JSON.parse(data) as Json;
    } catch {
      return null;
    }
    // Engine error events mid-stream: vLLM and llama.cpp nest them under `error` (TGI as a string), SGLang sends a
    // flat `{"object": "error", "message": ...}`. Any of them fails the response.
    if (chunk.error || chunk.object === 'error') {
      this.failed = true;
      const e = (chunk.object === 'error' ? chunk : typeof chunk.error === 'object' ? chunk.error : { message: chunk.error }) as Json;
      this.#error = scalarText(e.message, 'The backend failed while generating.');
      return (this.#state ? '' : this.#start(chunk)) + this.#emit('error', { code: 'server_error', message: this.#error, param: null });
    }
    let out = this.#state ? '' : this.#start(chunk);
    const u = chunk.usage as Json | null | undefined;
    if (u && typeof u.prompt_tokens === 'number') {
      const details = u.prompt_tokens_details as Json | null | undefined;
      this.#usage = {
        promptTokens: u.prompt_tokens,
        completionTokens: typeof u.completion_tokens === 'number' ? u.completion_tokens : 0,
        cachedTokens: details && typeof details.cached_tokens === 'number' ? details.cached_tokens : 0,
      };
      this.#reasoningTokens = reasoningTokensOf(u);
    }
    const choice = ((chunk.choices as Json[] | undefined) ?? [])[0];
    if (!choice) return out || null;
    const delta = (choice.delta ?? {}) as Json;
    const reasoning = reasoningOf(delta);
    if (reasoning.length > 0) out += this.#reasoningDelta(reasoning);
    if (typeof delta.content === 'string' && delta.content.length > 0) out += this.#textDelta(delta.content, logprobsOf(choice));
    if (Array.isArray(delta.tool_calls)) for (const tc of delta.tool_calls) out += this.#toolDelta((tc ?? {}) as Json);
    if (typeof choice.finish_reason === 'string') this.#finish = choice.finish_reason;
    return out || null;
  }

  bodyEnded(): void {
    if (this.#finish !== null) this.done = true;
  }

  finish(): string | null {
    if (!this.#state) return null;
    if (this.#error !== null) return this.#failedEvent('server_error', this.#error);
    const incompleteReason = incompleteReasonOf(this.#finish);
    const status = incompleteReason !== null ? 'incomplete' : 'completed';
    let out = this.#closeReasoning(status) + this.#closeText(status) + this.#closeCalls(status);
    Object.assign(this.#state, { status, usage: this.#usage, reasoningTokens: this.#reasoningTokens, incompleteReason });
    out += this.#emit(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: responseObject(this.req, this.#state) });
    return out;
  }

  usage(): BackendUsage | null {
    return this.#usage;
  }

  /**
   * The `response.failed` that ends a stream which broke after it started. The items keep what was streamed of them
   * (as `incomplete`, no done events): the final Response an SDK accumulates is then the failed one, not a snapshot
   * still `in_progress` with empty items.
   */
  #failedEvent(code: string, message: string): string {
    const s = this.#state!;
    const r = this.#reasoning;
    if (r) s.output[r.index] = reasoningItem(r.id, r.text, 'incomplete');
    const t = this.#text;
    if (t) s.output[t.index] = messageItem(t.id, t.text, 'incomplete', t.logprobs);
    for (const c of this.#calls.values()) s.output[c.index] = functionCallItem(c.id, c.callId, c.name, c.args, 'incomplete');
    this.#reasoning = this.#text = null;
    this.#calls.clear();
    Object.assign(s, { status: 'failed', usage: this.#usage, reasoningTokens: this.#reasoningTokens, error: { code, message } });
    return this.#emit('response.failed', { response: responseObject(this.req, s) });
  }

  /**
   * The gateway's own failure after the stream started (the backend dropped or stalled it, an oversized event): the
   * `error` event, then `response.failed` as after an engine's error, so the stream still ends on a terminal event.
   */
  errorFrame(err: GatewayError): string {
    const error = responsesErrorFrame(err, this.#seq++);
    if (this.#state === null || this.done || this.#error !== null) return error;
    this.#error = err.message;
    return error + this.#failedEvent('server_error', err.message);
  }
}
