/**
 * vLLM's Responses API: POST /v1/responses (streamed and not), GET /v1/responses/{id}, POST /v1/responses/{id}/cancel.
 * Only the vLLM personality serves it (SGLang, TGI and llama.cpp answer 404, as the real engines do). Input items are
 * rendered as the chat template would render the equivalent messages, so token counts match a chat request.
 */
import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import type { SimContext } from '../context.js';
import { mergeFaults, normalizeFault } from '../faults.js';
import { sendJson } from '../http/io.js';
import { SimHttpError } from '../personality/errors.js';
import { planChoice } from '../generation/plan.js';
import { structuredAnswer } from '../generation/structured.js';
import { runGeneration } from '../generation/runner.js';
import { chooseTool } from '../generation/tool-calls.js';
import { createResponsesRenderer } from '../render/responses-render.js';
import { lastUserText, renderChatPrompt } from '../text/chat-template.js';
import { tokenize } from '../text/tokenizer.js';
import { checkContextLength, checkModel, unixSeconds, type RouteRequest } from './generate-common.js';
import { parseRequest } from './schemas.js';

const ResponsesRequest = z.looseObject({
  model: z.string().nullish(),
  input: z.union([z.string(), z.array(z.looseObject({}))]),
  instructions: z.string().nullish(),
  tools: z.array(z.looseObject({ type: z.string(), name: z.string().optional(), parameters: z.unknown().optional() })).nullish(),
  tool_choice: z.unknown().optional(),
  max_output_tokens: z.int().min(1).nullish(),
  stream: z.boolean().nullish(),
  store: z.boolean().nullish(),
  previous_response_id: z.string().nullish(),
  sim_fault: z.unknown().optional(),
});

type Msg = Record<string, unknown>;

function toMessages(input: string | Msg[], instructions: string | null | undefined): Msg[] {
  const out: Msg[] = instructions ? [{ role: 'system', content: instructions }] : [];
  if (typeof input === 'string') return [...out, { role: 'user', content: input }];
  for (const it of input) {
    if (it.type === 'function_call_output') out.push({ role: 'tool', content: typeof it.output === 'string' ? it.output : JSON.stringify(it.output) });
    else if (it.type === 'function_call') out.push({ role: 'assistant', content: '', tool_calls: [{ name: it.name, arguments: it.arguments }] });
    else if (it.type === undefined || it.type === 'message') out.push({ role: it.role ?? 'user', content: it.content });
  }
  return out;
}

export function handleResponses(ctx: SimContext, rr: RouteRequest): void {
  if (ctx.personality !== 'vllm') throw new SimHttpError(404, 'Not Found');
  const b = parseRequest(ResponsesRequest, rr.body);
  const model = checkModel(ctx, b.model);
  if (b.previous_response_id && !ctx.responseStore?.has(b.previous_response_id)) {
    throw new SimHttpError(404, `Response with id '${b.previous_response_id}' not found.`, 'previous_response_id');
  }
  const messages = toMessages(b.input as string | Msg[], b.instructions);
  const chatTools = (b.tools ?? []).filter((t) => t.type === 'function').map((t) => ({ type: 'function', function: { name: t.name, parameters: t.parameters } }));
  const promptIds = tokenize(renderChatPrompt(messages, chatTools.length ? chatTools : undefined));
  const maxTokens = b.max_output_tokens ?? null;
  checkContextLength(ctx, promptIds.length, maxTokens, 'input');
  const id = `resp_${ctx.nextId('r').slice(2)}`;
  const choiceArg = b.tool_choice && typeof b.tool_choice === 'object' ? { function: { name: (b.tool_choice as Msg).name } } : (b.tool_choice ?? 'auto');
  const afterTool = messages[messages.length - 1]?.role === 'tool' && choiceArg === 'auto';
  const tool = afterTool ? null : chooseTool(chatTools, choiceArg, lastUserText(messages));
  const plan = planChoice({
    index: 0,
    promptIndex: 0,
    promptTokenIds: promptIds,
    instanceSeed: ctx.seed,
    requestSeed: 0,
    natural: ctx.naturalTokens,
    maxTokens,
    minTokens: 0,
    ignoreEos: false,
    stops: [],
    topLogprobs: null,
    tool,
    toolCallId: `call_${id.slice(5)}`,
    // `text.format`: the SDK's responses.parse reads the answer as JSON, as it does a chat completion's.
    structured: tool ? null : structuredAnswer(b as Record<string, unknown>),
  });
  // vLLM stores only when its store is enabled; otherwise `store: true` is quietly turned off.
  const stored = ctx.responseStore !== null && b.store !== false;
  const onFinal = (body: Record<string, unknown>) => {
    if (stored) ctx.responseStore!.set(id, body);
  };
  if (!ctx.engine) throw new Error('responses route needs an engine');
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
      renderer: createResponsesRenderer({ id, created: unixSeconds(), model, request: b, stored }, onFinal),
    },
    rr.res,
    rr.scope,
  );
}

/** GET /v1/responses/{id} and POST /v1/responses/{id}/cancel (vLLM cancels background responses only). */
export function handleResponseById(ctx: SimContext, res: ServerResponse, id: string, cancel: boolean): void {
  if (ctx.personality !== 'vllm') throw new SimHttpError(404, 'Not Found');
  const found = ctx.responseStore?.get(id);
  if (!found) throw new SimHttpError(404, `Response with id '${id}' not found.`, 'response_id');
  if (cancel) throw new SimHttpError(400, 'Cannot cancel a synchronous response.', 'response_id');
  sendJson(res, 200, JSON.stringify(found));
}
