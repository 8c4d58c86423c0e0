/** GET /v1/models, GET /metrics, POST /tokenize: the non-generating endpoints a router and an operator use. */
import type { ServerResponse } from 'node:http';
import type { SimContext } from '../context.js';
import type { EngineSnapshot } from '../engine/types.js';
import { sendBody, sendJson } from '../http/io.js';
import { renderMetrics } from '../personality/metrics.js';
import { renderChatPrompt } from '../text/chat-template.js';
import { tokenize } from '../text/tokenizer.js';
import { checkModel } from './generate-common.js';
import { TokenizeRequest, parseRequest } from './schemas.js';

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

/** vLLM's /tokenize: `{prompt}` or `{messages}` → `{count, max_model_len, tokens}`. */
export function handleTokenize(ctx: SimContext, res: ServerResponse, body: unknown): void {
  const b = parseRequest(TokenizeRequest, body);
  checkModel(ctx, b.model);
  const tokens = b.messages ? tokenize(renderChatPrompt(b.messages, undefined)) : tokenize(b.prompt ?? '');
  sendJson(res, 200, JSON.stringify({ count: tokens.length, max_model_len: ctx.maxModelLen, tokens, token_strs: null }));
}
