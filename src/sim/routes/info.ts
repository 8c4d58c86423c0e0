/** GET /v1/models, GET /metrics, POST /tokenize: the non-generating endpoints a router and an operator use. */
import type { ServerResponse } from 'node:http';
import type { SimContext } from '../context.js';
import type { EngineSnapshot } from '../engine/types.js';
import { sendBody, sendJson } from '../http/io.js';
import { renderMetrics } from '../personality/metrics.js';
import { renderChatPrompt } from '../text/chat-template.js';
import { tokenize, tokenPieces } from '../text/tokenizer.js';
import { SimHttpError } from '../personality/errors.js';
import { checkModel } from './generate-common.js';
import { DetokenizeRequest, TokenizeRequest, parseRequest } from './schemas.js';

const OWNED_BY = { vllm: 'vllm', sglang: 'sglang', tgi: 'tgi', llamacpp: 'llamacpp' } as const;

export function handleModels(ctx: SimContext, res: ServerResponse): void {
  const data = ctx.models.map((id) => ({
    id,
    object: 'model',
    created: ctx.startedAtSec,
    owned_by: OWNED_BY[ctx.personality],
    root: id,
    parent: null,
    max_model_len: ctx.maxModelLen,
  }));
  sendJson(res, 200, JSON.stringify({ object: 'list', data }));
}

export function emptySnapshot(kvBlocksTotal: number): EngineSnapshot {
  return {
    running: 0,
    waiting: 0,
    kvUsage: 0,
    kvBlocksTotal,
    prefixQueriesTokens: 0,
    prefixHitsTokens: 0,
    preemptions: 0,
    promptTokensTotal: 0,
    generationTokensTotal: 0,
    requestsFinished: 0,
    ttftSeconds: [],
    itlSeconds: [],
    e2eSeconds: [],
  };
}

export function handleMetrics(ctx: SimContext, res: ServerResponse, kvBlocks: number): void {
  const snapshot = ctx.engine ? ctx.engine.snapshot() : emptySnapshot(kvBlocks);
  const text = renderMetrics({ personality: ctx.personality, model: ctx.model, snapshot, stats: ctx.stats });
  sendBody(res, 200, 'text/plain; version=0.0.4; charset=utf-8', text);
}

/** Pieces of the ids this instance handed out, so /detokenize can invert /tokenize (ids are hashes). Bounded. */
const seenPieces = new Map<number, string>();
const MAX_SEEN = 50_000;

/** vLLM's /tokenize (SGLang's too): `{prompt}` or `{messages}` → `{count, max_model_len, tokens, token_strs}`. */
export function handleTokenize(ctx: SimContext, res: ServerResponse, body: unknown): void {
  if (ctx.personality !== 'vllm' && ctx.personality !== 'sglang') throw new SimHttpError(404, 'Not Found');
  const b = parseRequest(TokenizeRequest, body);
  checkModel(ctx, b.model);
  const text = b.messages ? renderChatPrompt(b.messages, undefined) : (b.prompt ?? '');
  const tokens = tokenize(text);
  const pieces = tokenPieces(text);
  for (let i = 0; i < tokens.length && seenPieces.size < MAX_SEEN; i++) seenPieces.set(tokens[i]!, pieces[i]!);
  const strs = b.return_token_strs === true ? pieces : null;
  sendJson(res, 200, JSON.stringify({ count: tokens.length, max_model_len: ctx.maxModelLen, tokens, token_strs: strs }));
}

/** vLLM's /detokenize: `{tokens}` → `{prompt}`. */
export function handleDetokenize(ctx: SimContext, res: ServerResponse, body: unknown): void {
  if (ctx.personality !== 'vllm' && ctx.personality !== 'sglang') throw new SimHttpError(404, 'Not Found');
  const b = parseRequest(DetokenizeRequest, body);
  checkModel(ctx, b.model);
  sendJson(res, 200, JSON.stringify({ prompt: b.tokens.map((id) => seenPieces.get(id) ?? `<${id}>`).join('') }));
}
