import { GatewayError, scalarText } from '../../core/index.js';
import type { ResponsesRequest } from './wire.js';

/**
 * A Responses API request as a chat completions request, for backends that only serve chat (SGLang, TGI, llama.cpp,
 * Ollama). What has no chat equivalent is refused with a 400 naming the field; nothing is dropped silently, except
 * `reasoning` items sent back as input (the model's own earlier reasoning, which chat templates do not take).
 */
type Json = Record<string, unknown>;

/** Responses fields this translation reads; any other top-level field (vendor extras such as top_k) is copied through. */
const KNOWN = new Set([
  'model', 'input', 'instructions', 'tools', 'tool_choice', 'max_output_tokens', 'temperature', 'top_p', 'stream', 'store',
  'previous_response_id', 'text', 'reasoning', 'parallel_tool_calls', 'user', 'metadata', 'include', 'truncation',
  'background', 'conversation', 'prompt', 'top_logprobs', 'service_tier', 'stream_options', 'prompt_cache_key', 'safety_identifier',
]);

function untranslatable(param: string, what: string): GatewayError {
  return new GatewayError('invalid_request', `${what} cannot be served by this model's backends, which only serve chat completions (the gateway translates the Responses API to them).`, {
    param,
    wireCode: 'unsupported_parameter',
  });
}

function partText(part: Json, param: string): Json {
  const type = part.type;
  if (type === 'input_text' || type === 'output_text' || type === 'text') return { type: 'text', text: scalarText(part.text, '') };
  if (type === 'input_image') {
    const url = part.image_url;
    if (typeof url !== 'string') throw untranslatable(param, 'An input_image given by file_id');
    return { type: 'image_url', image_url: { url, ...(part.detail ? { detail: part.detail } : {}) } };
  }
  if (type === 'refusal') return { type: 'text', text: scalarText(part.refusal, '') };
  throw untranslatable(param, `Content of type ${JSON.stringify(type)}`);
}

function messageContent(content: unknown, param: string, role: string): unknown {
  if (typeof content === 'string' || content === null || content === undefined) return content ?? '';
  if (!Array.isArray(content)) return content;
  const parts = content.map((p, i) => partText((p ?? {}) as Json, `${param}[${i}]`));
  // Assistant turns and plain text are sent as a string: several chat templates only take strings there.
  if (role === 'assistant' || parts.every((p) => p.type === 'text')) return parts.map((p) => p.text).join('');
  return parts;
}

function outputText(output: unknown): string {
  if (typeof output === 'string') return output;
  if (Array.isArray(output)) return output.map((p) => (p && typeof p === 'object' && typeof (p as Json).text === 'string' ? (p as Json).text : '')).join('');
  return JSON.stringify(output ?? '');
}

export function inputMessages(req: ResponsesRequest): Json[] {
  const messages: Json[] = [];
  if (typeof req.instructions === 'string' && req.instructions.length > 0) messages.push({ role: 'system', content: req.instructions });
  if (typeof req.input === 'string') {
    messages.push({ role: 'user', content: req.input });
    return messages;
  }
  let calls: Json[] | null = null;
  req.input.forEach((raw, i) => {
    const item = (raw ?? {}) as Json;
    const param = `input[${i}]`;
    const type = item.type ?? 'message';
    if (type === 'function_call') {
      const call = { id: item.call_id, type: 'function', function: { name: item.name, arguments: item.arguments ?? '' } };
      // Consecutive calls are one assistant turn with parallel tool calls, as chat expects them.
      if (calls) calls.push(call);
      else {
        // The text an assistant wrote before its calls (a message item, then function_call items) is the same chat
        // turn: two assistant messages in a row break templates that require alternating roles.
        const last = messages[messages.length - 1];
        if (last && last.role === 'assistant' && last.tool_calls === undefined) last.tool_calls = calls = [call];
        else messages.push({ role: 'assistant', content: null, tool_calls: (calls = [call]) });
      }
      return;
    }
    calls = null;
    if (type === 'message') {
      const role = item.role === 'developer' ? 'system' : scalarText(item.role, 'user');
      const content = messageContent(item.content, `${param}.content`, role);
      // `instructions` and a developer message (or two system items) in a row are one system turn: templates that
      // take a single system message (Mistral's) refuse two.
      const last = messages[messages.length - 1];
      if (role === 'system' && last?.role === 'system' && typeof last.content === 'string' && typeof content === 'string') last.content = `${last.content}\n\n${content}`;
      else messages.push({ role, content });
    } else if (type === 'function_call_output') {
      messages.push({ role: 'tool', tool_call_id: item.call_id, content: outputText(item.output) });
    } else if (type === 'reasoning') {
      // The model's earlier reasoning handed back by an agent loop: chat has no place for it.
    } else if (type === 'item_reference') {
      throw untranslatable(param, 'An item_reference (a stored item)');
    } else {
      throw untranslatable(`${param}.type`, `An input item of type ${JSON.stringify(type)}`);
    }
  });
  return messages;
}

function chatTools(tools: unknown[]): Json[] {
  return tools.map((t, i) => {
    const tool = (t ?? {}) as Json;
    if (tool.type !== 'function') throw untranslatable(`tools[${i}].type`, `The built-in tool ${JSON.stringify(tool.type)}`);
    // Refused here, in the request's own terms: the backend would name `tools.0.function.name`, a field never sent.
    if (typeof tool.name !== 'string' || tool.name.length === 0) {
      throw new GatewayError('invalid_request', `Missing required parameter: 'tools[${i}].name'.`, { param: `tools[${i}].name`, wireCode: 'missing_required_parameter' });
    }
    const fn: Json = { name: tool.name, parameters: tool.parameters ?? { type: 'object', properties: {} } };
    if (tool.description !== undefined) fn.description = tool.description;
    if (tool.strict !== undefined && tool.strict !== null) fn.strict = tool.strict;
    return { type: 'function', function: fn };
  });
}

function chatToolChoice(choice: unknown): unknown {
  if (typeof choice === 'string') return choice;
  const c = (choice ?? {}) as Json;
  if (c.type === 'function') return { type: 'function', function: { name: c.name } };
  throw untranslatable('tool_choice', `tool_choice of type ${JSON.stringify(c.type)}`);
}

function responseFormat(text: unknown): Json | null {
  const format = ((text ?? {}) as Json).format as Json | undefined;
  if (!format || format.type === 'text') return null;
  if (format.type === 'json_object') return { type: 'json_object' };
  if (format.type === 'json_schema') {
    const schema: Json = { name: format.name, schema: format.schema };
    if (format.strict !== undefined) schema.strict = format.strict;
    if (format.description !== undefined) schema.description = format.description;
    return { type: 'json_schema', json_schema: schema };
  }
  throw untranslatable('text.format.type', `text.format of type ${JSON.stringify(format.type)}`);
}

/** Fails with a 400 for what only a stateful backend can do. Checked before any backend is chosen. */
export function refuseStateful(req: ResponsesRequest): void {
  if (req.store === true) throw untranslatable('store', 'Stored responses (store: true)');
  if (req.previous_response_id) throw untranslatable('previous_response_id', 'previous_response_id');
  if (req.background === true) throw untranslatable('background', 'Background responses');
  if (req.conversation) throw untranslatable('conversation', 'Conversations');
  if (req.prompt) throw untranslatable('prompt', 'Prompt templates');
  if (req.truncation === 'auto') throw untranslatable('truncation', "truncation: 'auto'");
  const include = (req.include ?? []).filter((v) => v !== 'message.output_text.logprobs');
  if (include.length > 0) throw untranslatable('include', `include: ${JSON.stringify(include)}`);
}

/** The chat completions body for one backend (its model name). */
export function toChatBody(req: ResponsesRequest, backendModel: string): Buffer {
  refuseStateful(req);
  const messages = inputMessages(req);
  if (messages.length === 0) {
    throw new GatewayError('invalid_request', "Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead.", { param: 'input', wireCode: 'empty_array' });
  }
  const body: Json = { model: backendModel, messages };
  for (const [k, v] of Object.entries(req)) if (!KNOWN.has(k) && v !== undefined) body[k] = v;
  if (req.tools && req.tools.length > 0) body.tools = chatTools(req.tools);
  if (req.tool_choice !== undefined && req.tool_choice !== null) body.tool_choice = chatToolChoice(req.tool_choice);
  if (req.parallel_tool_calls !== undefined && req.parallel_tool_calls !== null && body.tools) body.parallel_tool_calls = req.parallel_tool_calls;
  if (typeof req.max_output_tokens === 'number') body.max_tokens = req.max_output_tokens;
  if (req.temperature !== undefined && req.temperature !== null) body.temperature = req.temperature;
  if (req.top_p !== undefined && req.top_p !== null) body.top_p = req.top_p;
  if (typeof req.top_logprobs === 'number') Object.assign(body, { logprobs: true, top_logprobs: req.top_logprobs });
  else if (req.include?.includes('message.output_text.logprobs')) body.logprobs = true;
  if (req.user) body.user = req.user;
  const effort = ((req.reasoning ?? {}) as Json).effort;
  if (effort) body.reasoning_effort = effort;
  const format = responseFormat(req.text);
  if (format) body.response_format = format;
  if (req.stream === true) Object.assign(body, { stream: true, stream_options: { include_usage: true } });
  return Buffer.from(JSON.stringify(body));
}
