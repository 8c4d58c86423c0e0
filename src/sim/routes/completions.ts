/** POST /v1/completions — one or a batch of prompts (strings or token ids), n choices each. */
import type { SimContext } from '../context.js';
import { mergeFaults, normalizeFault } from '../faults.js';
import { planChoice, type ChoicePlan } from '../generation/plan.js';
import { structuredAnswer } from '../generation/structured.js';
import { runGeneration } from '../generation/runner.js';
import { SimHttpError } from '../personality/errors.js';
import { createCompletionRenderer } from '../render/completion-render.js';
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
import { CompletionRequest, parseRequest } from './schemas.js';

/** Normalises the four prompt forms to a list of token-id prompts. */
export function promptTokenLists(prompt: CompletionRequest['prompt']): number[][] {
  if (typeof prompt === 'string') return [tokenize(prompt)];
  if (prompt.length === 0) return [];
  if (typeof prompt[0] === 'string') return (prompt as string[]).map((p) => tokenize(p));
  if (typeof prompt[0] === 'number') return [prompt as number[]];
  return prompt as number[][];
}

function echoTexts(prompt: CompletionRequest['prompt']): string[] {
  if (typeof prompt === 'string') return [prompt];
  return prompt.map((p) => (typeof p === 'string' ? p : ''));
}

export function handleCompletions(ctx: SimContext, rr: RouteRequest): void {
  const b = parseRequest(CompletionRequest, rr.body);
  const model = checkModel(ctx, b.model);
  const flags = streamFlags(b);
  const prompts = promptTokenLists(b.prompt);
  const maxTokens = b.max_tokens ?? null;
  for (const p of prompts) {
    if (p.length === 0) throw new SimHttpError(400, 'The decoder prompt cannot be empty', 'prompt');
    checkContextLength(ctx, p.length, maxTokens, 'prompt');
  }

  const id = ctx.nextId('cmpl');
  const n = b.n ?? 1;
  // Completions' integer logprobs: k alternatives per token; 0 still reports the sampled token.
  const topLogprobs = b.logprobs === null || b.logprobs === undefined ? null : Math.max(1, b.logprobs);
  const choices: ChoicePlan[] = [];
  // vLLM guides completions too (response_format, guided_json).
  const structured = structuredAnswer(b as Record<string, unknown>);
  prompts.forEach((promptIds, promptIndex) => {
    for (let i = 0; i < n; i++) {
      choices.push(
        planChoice({
          index: promptIndex * n + i,
          promptIndex,
          promptTokenIds: promptIds,
          instanceSeed: ctx.seed,
          requestSeed: requestSeed(b.seed),
          natural: ctx.naturalTokens,
          maxTokens,
          minTokens: b.min_tokens ?? 0,
          ignoreEos: b.ignore_eos === true,
          stops: stopList(b.stop),
          topLogprobs,
          tool: null,
          toolCallId: '',
          structured,
        }),
      );
    }
  });
  if (!ctx.engine) throw new Error('completions route needs an engine');
  runGeneration(
    { personality: ctx.personality, engine: ctx.engine, scheduler: ctx.scheduler, stats: ctx.stats },
    {
      id,
      prompts,
      choices,
      ...flags,
      fault: mergeFaults(rr.serverFault, normalizeFault(b.sim_fault), rr.headerFault),
      // echo: string prompts are put back before their completions (token-id prompts have no text to echo here).
      renderer: createCompletionRenderer({ id, created: unixSeconds(), model, personality: ctx.personality, echo: b.echo === true ? echoTexts(b.prompt) : null }),
    },
    rr.res,
    rr.scope,
  );
}
