/**
 * vLLM's Anthropic Messages API (`POST /v1/messages`, streamed and not, and `/v1/messages/count_tokens`), which the
 * vLLM and llama.cpp personalities serve (SGLang and TGI answer 404). Errors on these routes are in Anthropic's shape,
 * as vLLM's Anthropic server sends them.
 */
import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import type { SimContext } from '../context.js';
import { mergeFaults, normalizeFault } from '../faults.js';
import { sendJson } from '../http/io.js';
import { SimHttpError } from '../personality/errors.js';
import { planChoice, type ChoicePlan } from '../generation/plan.js';
import { runGeneration, type Renderer, type Usage } from '../generation/runner.js';
import { chooseTool } from '../generation/tool-calls.js';
import { lastUserText, renderChatPrompt } from '../text/chat-template.js';
import { tokenize } from '../text/tokenizer.js';
import { checkContextLength, checkModel, type RouteRequest } from './generate-common.js';
import { parseRequest } from './schemas.js';

/**
 * Content blocks as vLLM's Anthropic request model types them: objects with a string `type`, `text` a string when
 * present, a tool result's `content` a string or a list. A client's malformed block is that model's 400 (it was a
 * TypeError here, a 500, and the gateway ejects backends that answer 500s).
 */
const Block = z.looseObject({ type: z.string(), text: z.string().nullish(), content: z.union([z.string(), z.array(z.unknown())]).nullish() });
const Base = {
  model: z.string().nullish(),
  messages: z.array(z.looseObject({ role: z.string(), content: z.union([z.string(), z.array(Block)]) })).min(1),
  system: z.union([z.string(), z.array(Block)]).nullish(),
  tools: z.array(z.looseObject({ name: z.string(), input_schema: z.unknown().optional() })).nullish(),
  tool_choice: z.looseObject({ type: z.string(), name: z.string().optional() }).nullish(),
};
const MessagesRequest = z.looseObject({ ...Base, max_tokens: z.int().min(1), stream: z.boolean().nullish(), sim_fault: z.unknown().optional() });
const CountRequest = z.looseObject(Base);

export function isMessagesPersonality(ctx: SimContext): boolean {
  return ctx.personality === 'vllm' || ctx.personality === 'llamacpp';
}

export function anthropicError(status: number, message: string): { status: number; contentType: string; body: string } {
  const type = status === 404 ? 'not_found_error' : status >= 500 ? 'api_error' : 'invalid_request_error';
  return { status, contentType: 'application/json', body: JSON.stringify({ type: 'error', error: { type, message } }) };
}

function chatView(b: z.infer<typeof CountRequest>) {
  const system = typeof b.system === 'string' ? b.system : Array.isArray(b.system) ? b.system.map((x) => x.text ?? '').join('') : '';
  const messages: Record<string, unknown>[] = system ? [{ role: 'system', content: system }] : [];
  for (const m of b.messages) {
    const blocks = Array.isArray(m.content) ? m.content : null;
    const toolResult = blocks?.find((x) => x.type === 'tool_result');
    messages.push({ role: toolResult ? 'tool' : m.role, content: blocks ? blocks.map((x) => (typeof x.text === 'string' ? x.text : typeof x.content === 'string' ? x.content : '')).join('') : m.content });
  }
  const tools = (b.tools ?? []).map((t) => ({ type: 'function', function: { name: t.name, parameters: t.input_schema } }));
  return { messages, tools };
}

function renderer(id: string, model: string, inputTokens: number): Renderer {
  const ev = (type: string, body: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...body })}\n\n`;
  const stop = (p: ChoicePlan) => (p.toolCall ? 'tool_use' : p.finishReason === 'length' ? 'max_tokens' : 'end_turn');
  const block = (p: ChoicePlan, done: boolean) =>
    p.toolCall
      ? { type: 'tool_use', id: p.toolCall.id, name: p.toolCall.name, input: done ? JSON.parse(p.pieces.join('') || '{}') : {} }
      : { type: 'text', text: done ? p.pieces.join('') : '' };
  let last: ChoicePlan | null = null;
  return {
    doneFrame: ev('message_stop', {}),
    tokenFrames(p, i) {
      let out = '';
      if (i === 0) {
        last = p;
        const message = { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: inputTokens, output_tokens: 1 } };
        out += ev('message_start', { message }) + ev('content_block_start', { index: 0, content_block: block(p, false) }) + ev('ping', {});
      }
      const piece = p.pieces[i] ?? '';
      const delta = p.toolCall ? { type: 'input_json_delta', partial_json: piece } : { type: 'text_delta', text: piece };
      return out + ev('content_block_delta', { index: 0, delta });
    },
    finishFrames: () => ev('content_block_stop', { index: 0 }),
    usageFrame: (u: Usage) => ev('message_delta', { delta: { stop_reason: last ? stop(last) : 'end_turn', stop_sequence: null }, usage: { output_tokens: u.completion_tokens } }),
    body(choices, u) {
      const p = choices[0]!;
      return JSON.stringify({ id, type: 'message', role: 'assistant', model, content: [block(p, true)], stop_reason: stop(p), stop_sequence: null, usage: { input_tokens: u.prompt_tokens, output_tokens: u.completion_tokens } });
    },
  };
}

export function handleMessages(ctx: SimContext, rr: RouteRequest): void {
  if (!isMessagesPersonality(ctx)) throw new SimHttpError(404, 'Not Found');
  const b = parseRequest(MessagesRequest, rr.body);
  const model = checkModel(ctx, b.model);
  const { messages, tools } = chatView(b);
  const promptIds = tokenize(renderChatPrompt(messages, tools.length ? tools : undefined));
  checkContextLength(ctx, promptIds.length, b.max_tokens, 'messages');
  const id = `msg_${ctx.nextId('m').slice(2)}`;
  const tc = b.tool_choice;
  const choice = !tc || tc.type === 'auto' ? 'auto' : tc.type === 'any' ? 'required' : tc.type === 'none' ? 'none' : { function: { name: tc.name } };
  const afterTool = messages[messages.length - 1]?.role === 'tool' && choice === 'auto';
  const tool = afterTool ? null : chooseTool(tools, choice, lastUserText(messages));
  const plan = planChoice({
    index: 0, promptIndex: 0, promptTokenIds: promptIds, instanceSeed: ctx.seed, requestSeed: 0, natural: ctx.naturalTokens,
    maxTokens: b.max_tokens, minTokens: 0, ignoreEos: false, stops: [], topLogprobs: null, tool, toolCallId: `toolu_${id.slice(4)}`,
  });
  if (!ctx.engine) throw new Error('messages route needs an engine');
  const stream = b.stream === true;
  runGeneration(
    { personality: ctx.personality, engine: ctx.engine, scheduler: ctx.scheduler, stats: ctx.stats },
    {
      id,
      prompts: [promptIds],
      choices: [plan],
      stream,
      includeUsage: stream,
      continuousUsage: false,
      fault: mergeFaults(rr.serverFault, normalizeFault(b.sim_fault), rr.headerFault),
      renderer: renderer(id, model, promptIds.length),
    },
    rr.res,
    rr.scope,
  );
}

export function handleCountTokens(ctx: SimContext, res: ServerResponse, body: unknown): void {
  if (!isMessagesPersonality(ctx)) throw new SimHttpError(404, 'Not Found');
  const b = parseRequest(CountRequest, body);
  checkModel(ctx, b.model);
  const { messages, tools } = chatView(b);
  sendJson(res, 200, JSON.stringify({ input_tokens: tokenize(renderChatPrompt(messages, tools.length ? tools : undefined)).length }));
}

