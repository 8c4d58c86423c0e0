import type { ServerResponse } from 'node:http';
import { GatewayError, type Endpoint, type RequestCtx } from '../core/index.js';
import type { CompiledBackend, CompiledModel, RuntimeConfig } from '../config/index.js';
import type { RouteRequest } from '../routing/index.js';
import { boundedSessionKey } from '../routing/index.js';
import type { TokenCount, TokenCounter } from '../usage/index.js';
import type { RequestSpan } from '../telemetry/index.js';
import type { ClientLink, Heartbeat } from '../upstream/index.js';
import { appendAbsent, applyEdits, type Edit } from './json-splice.js';
import { renderPrompt, tokenIdCount } from './prompt.js';
import { MAX_MODEL_NAME, type ChatRequest, type CompletionRequest, type EmbeddingRequest, type WireRequest } from './wire.js';
import type { FamilyRequest } from './family.js';

/** What a request is once read: its routing view, its prompt count and how its body is edited per backend. */
export function modelNameTooLong(): GatewayError {
  return new GatewayError('invalid_request', `Invalid value for 'model': model names are at most ${MAX_MODEL_NAME} characters.`, { param: 'model', wireCode: 'invalid_value' });
}

export function modelNotFound(name: string): GatewayError {
  return new GatewayError('model_not_found', `The model \`${name}\` does not exist or you do not have access to it.`, {
    param: 'model',
    wireCode: 'model_not_found',
  });
}

export interface Prepared {
  endpoint: Endpoint;
  raw: Buffer;
  req: WireRequest;
  route: RouteRequest;
  prompt: TokenCount;
  /** The client did not ask for stream usage; the gateway asks and removes the usage chunk. */
  injectUsage: boolean;
  wantBase64: boolean;
  /**
   * Generations, each up to the output cap: `n` (or `best_of`) choices for each prompt of the request (a legacy
   * completion may carry a list of prompts). The output reservation and estimate count them.
   */
  choices: number;
  /** The request of an endpoint family other than chat / completions / embeddings (family.ts), else null. */
  fam: FamilyRequest | null;
  /**
   * Output tokens per choice the gateway asks the backend to stop at, for a request without a cap of its own under a
   * token limit or quota: what was reserved for it, so the limit holds exactly. Null otherwise.
   */
  outputCap: number | null;
  /** The output cap is the API's default, not the client's (legacy completions: 16), so the backend is told it too. */
  defaultedCap: boolean;
}

export const NO_BODY = Buffer.alloc(0);

/** A family request's routing view; its body is built per backend by the family (translation, model name). */
export function prepareFamily(endpoint: Endpoint, fam: FamilyRequest, model: CompiledModel, ctx: RequestCtx, tokens: TokenCounter): Prepared {
  ctx.stream = fam.stream;
  const prompt = tokens.countText(model.name, fam.promptText);
  ctx.promptTokenEstimate = prompt.tokens;
  const route = { endpoint, promptTokens: prompt.tokens, promptText: fam.promptText, maxTokens: fam.maxTokens, sessionKey: fam.sessionKey, routingMemo: undefined };
  return { endpoint, raw: NO_BODY, req: { model: fam.model } as WireRequest, prompt, route, injectUsage: false, wantBase64: false, choices: 1, fam, outputCap: null, defaultedCap: false };
}

/** Whether a request generates tokens (reserved and observed as output). */
export function generates(p: Prepared): boolean {
  return p.fam ? p.fam.generates : p.endpoint !== 'embeddings';
}

/** One request's state shared by the routing loop and each attempt (one object instead of eight parameters). */
export interface Exchange {
  readonly p: Prepared;
  readonly cfg: RuntimeConfig;
  readonly ctx: RequestCtx;
  readonly out: ServerResponse;
  readonly client: ClientLink;
  readonly respHeaders: Record<string, string | number>;
  readonly span: RequestSpan | null;
  /** Keeps a stream's connection visibly alive from its head to its first token, across attempts. */
  readonly heartbeat: Heartbeat | null;
  /** Auth is on: scopes decide which fallback models may answer. */
  readonly authorizes: boolean;
  /** With limits on: whether a fallback model's limits admit the request (reserving its capacity when they do). */
  readonly admitFallback: ((m: CompiledModel) => Promise<boolean>) | null;
}

const COMPLETIONS_DEFAULT_MAX = 16;


/** The output a request without a cap must be allowed: vLLM refuses a `min_tokens` above the `max_tokens` it is sent. */
export function minOutputOf(p: Prepared): number {
  const min = (p.req as { min_tokens?: unknown }).min_tokens;
  return typeof min === 'number' && Number.isFinite(min) && min > 0 ? Math.ceil(min) : 0;
}

/** What a stream request without `stream_options` gets, so that the backend reports usage. */
const INCLUDE_USAGE = Buffer.from('"stream_options":{"include_usage":true}');

export function bodyFor(p: Prepared, backend: CompiledBackend): { body: Buffer; convertBase64: boolean } {
  const rename = p.req.model !== backend.model;
  const convertBase64 = p.wantBase64 && !backend.embeddingsBase64;
  const existing = p.injectUsage ? (p.req as ChatRequest).stream_options : undefined;
  // The usual stream request: the usage option is the only edit and the parsed body has no `stream_options` key at
  // all, so the member is appended without walking the body (test/unit/json-splice.test.ts: same bytes as below).
  if (p.injectUsage && existing === undefined && !rename && !convertBase64 && p.outputCap === null) return { body: appendAbsent(p.raw, INCLUDE_USAGE), convertBase64 };
  const edits: Edit[] = [];
  if (rename) edits.push({ key: 'model', value: JSON.stringify(backend.model) });
  // OpenAI's own chat API refuses `max_tokens` for its reasoning models; the engines all read `max_tokens`.
  if (p.outputCap !== null) edits.push({ key: p.endpoint === 'chat' && backend.kind === 'openai' ? 'max_completion_tokens' : 'max_tokens', value: String(p.outputCap) });
  if (p.injectUsage) edits.push({ key: 'stream_options', value: JSON.stringify(withUsage(existing)) });
  if (convertBase64) edits.push({ key: 'encoding_format', value: '"float"' });
  return { body: applyEdits(p.raw, edits), convertBase64 };
}

/**
 * The client's stream options with the final usage chunk asked for (the gateway strips it again). vLLM's per-chunk
 * usage (`continuous_usage_stats`) comes only with `include_usage`, so a client that did not ask for usage would get it
 * on every chunk through the injected option: that extra is dropped.
 */
function withUsage(existing: Record<string, unknown> | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(existing ?? {}), include_usage: true };
  delete out.continuous_usage_stats;
  return out;
}

/**
 * The client's output cap. Engines read one of the two fields (vLLM and SGLang `max_completion_tokens` first, others
 * `max_tokens` only), so the larger bounds what any of them generates and is what a token limit reserves.
 */
function outputCapOf(req: ChatRequest): number | null {
  const a = req.max_completion_tokens ?? null;
  const b = req.max_tokens ?? null;
  return a === null ? b : b === null ? a : Math.max(a, b);
}

/** Prompts in a legacy completion: a string or one list of token ids is one; a list of either, one per item. */
function promptCount(prompt: CompletionRequest['prompt']): number {
  return typeof prompt === 'string' || prompt.length === 0 || typeof prompt[0] === 'number' ? 1 : prompt.length;
}

function countPrompt(tokens: TokenCounter, endpoint: Endpoint, model: string, req: WireRequest): TokenCount {
  if (endpoint === 'chat') return tokens.countChatPrompt(model, (req as ChatRequest).messages, (req as ChatRequest).tools ?? undefined);
  return tokens.countText(model, endpoint === 'completions' ? (req as CompletionRequest).prompt : (req as EmbeddingRequest).input);
}

export function prepare(endpoint: Endpoint, raw: Buffer, req: WireRequest, model: CompiledModel, ctx: RequestCtx, tokens: TokenCounter, sessionHeader: string | undefined): Prepared {
  const streaming = endpoint !== 'embeddings' && (req as ChatRequest | CompletionRequest).stream === true;
  ctx.stream = streaming;
  const promptText = renderPrompt(endpoint, req);
  const prompt = countPrompt(tokens, endpoint, model.name, req);
  const promptTokens = tokenIdCount(endpoint, req) || prompt.tokens;
  ctx.promptTokenEstimate = promptTokens;
  // Legacy completions without max_tokens stop at 16 tokens, as OpenAI and the engines default them.
  const maxTokens = endpoint === 'embeddings' ? 0 : endpoint === 'completions' ? ((req as CompletionRequest).max_tokens ?? COMPLETIONS_DEFAULT_MAX) : outputCapOf(req as ChatRequest);
  const sessionKey = boundedSessionKey(req.prompt_cache_key ?? req.user ?? sessionHeader);
  return {
    endpoint,
    raw,
    req,
    prompt,
    route: { endpoint, promptTokens, promptText, maxTokens, sessionKey, routingMemo: undefined },
    injectUsage: streaming && (req as ChatRequest).stream_options?.include_usage !== true,
    wantBase64: endpoint === 'embeddings' && (req as EmbeddingRequest).encoding_format === 'base64',
    choices:
      endpoint === 'embeddings'
        ? 1
        : Math.max((req as ChatRequest | CompletionRequest).n ?? 1, (req as ChatRequest | CompletionRequest).best_of ?? 1) *
          (endpoint === 'completions' ? promptCount((req as CompletionRequest).prompt) : 1),
    fam: null,
    outputCap: null,
    defaultedCap: endpoint === 'completions' && (req as CompletionRequest).max_tokens == null,
  };
}
