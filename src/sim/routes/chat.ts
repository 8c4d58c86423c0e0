/** POST /v1/chat/completions */
import type { SimContext } from '../context.js';
import { mergeFaults, normalizeFault } from '../faults.js';
import { planChoice, type ChoicePlan } from '../generation/plan.js';
import { runGeneration } from '../generation/runner.js';
import { chooseTool } from '../generation/tool-calls.js';
import { structuredAnswer } from '../generation/structured.js';
import { createChatRenderer } from '../render/chat-render.js';
import { lastUserText, renderChatPrompt } from '../text/chat-template.js';
import { tokenize } from '../text/tokenizer.js';
import {
  checkContextLength,
  checkModel,
  requestSeed,
  stopList,
  streamFlags,
  unixSeconds,
  type RouteRequest,
} from './generate-common.js';
import { ChatRequest, parseRequest } from './schemas.js';

export function handleChat(ctx: SimContext, rr: RouteRequest): void {
  const b = parseRequest(ChatRequest, rr.body);
  const model = checkModel(ctx, b.model);
  const flags = streamFlags(b);
  const tools = b.tools ?? undefined;
  const promptIds = tokenize(renderChatPrompt(b.messages, tools));
  const maxTokens = b.max_completion_tokens ?? b.max_tokens ?? null;
  checkContextLength(ctx, promptIds.length, maxTokens, 'messages');

  const id = ctx.nextId('chatcmpl');
  // Like a real model, `auto` answers in text once a tool's result is the last message (agent loops end).
  const afterTool = b.messages[b.messages.length - 1]?.role === 'tool' && (b.tool_choice ?? 'auto') === 'auto';
  const tool = afterTool ? null : chooseTool(tools, b.tool_choice ?? 'auto', lastUserText(b.messages));
  const topLogprobs = b.logprobs === true ? (b.top_logprobs ?? 0) : null;
  const structured = tool ? null : structuredAnswer(b);
  const choices: ChoicePlan[] = [];
  for (let i = 0; i < (b.n ?? 1); i++) {
    choices.push(
      planChoice({
        index: i,
        promptIndex: 0,
        promptTokenIds: promptIds,
        instanceSeed: ctx.seed,
        requestSeed: requestSeed(b.seed),
        natural: ctx.naturalTokens,
        maxTokens,
        minTokens: b.min_tokens ?? 0,
        ignoreEos: b.ignore_eos === true,
        stops: stopList(b.stop),
        topLogprobs,
        tool,
        toolCallId: `chatcmpl-tool-${id.slice(9)}${i}`,
        structured,
      }),
    );
  }
  if (!ctx.engine) throw new Error('chat route needs an engine');
  runGeneration(
    { personality: ctx.personality, engine: ctx.engine, scheduler: ctx.scheduler, stats: ctx.stats },
    {
      id,
      prompts: [promptIds],
      choices,
      ...flags,
      fault: mergeFaults(rr.serverFault, normalizeFault(b.sim_fault), rr.headerFault),
      renderer: createChatRenderer({ id, created: unixSeconds(), model, personality: ctx.personality }),
    },
    rr.res,
    rr.scope,
  );
}
