import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import type { CompiledBackend } from '../config/index.js';
import type { Endpoint, RequestCtx } from '../core/index.js';
import { findUsage, type BackendUsage } from '../upstream/index.js';
import { basesOf, servesNatively, servesV2Rerank } from './backend-support.js';
import { bearerCredential, type BodyLimits, type Family, type FamilyCall, type FamilyRequest } from './family.js';
import { applyEdits } from './json-splice.js';
import { parseJsonBody, readRequestBody } from './read-body.js';
import { writeError } from './respond.js';
import { validateNamed } from './wire.js';

/**
 * vLLM's non-generating model endpoints, passed through byte for byte (only `model` is rewritten when the backend's
 * name differs): /tokenize and /detokenize; the Jina/Cohere-style /rerank, /v1/rerank and /v2/rerank; /score and
 * /v1/score. The gateway needs `model` to route, so it is required here (vLLM defaults it).
 */
const model = z.string().min(1);
const text = z.union([z.string(), z.array(z.unknown())]);

const schemas = {
  '/tokenize': z.looseObject({ model, prompt: z.string().optional(), messages: z.array(z.unknown()).optional() }).refine((b) => b.prompt !== undefined || b.messages !== undefined, {
    message: 'send `prompt` or `messages`',
    path: ['prompt'],
  }),
  '/detokenize': z.looseObject({ model, tokens: z.array(z.number().int()) }),
  rerank: z.looseObject({ model, query: z.union([z.string(), z.looseObject({})]), documents: z.array(z.unknown()).min(1), top_n: z.number().int().nullish() }),
  score: z.looseObject({ model, text_1: text.optional(), text_2: text.optional(), queries: text.optional(), documents: text.optional() }),
};

/** Gateway route → backend path suffix and whether it lives under /v1 or the server root. */
const ROUTES: Record<string, { endpoint: Endpoint; schema: z.ZodType<Record<string, unknown>>; base: 'root' | 'v1'; suffix: string }> = {
  '/tokenize': { endpoint: 'tokenize', schema: schemas['/tokenize'], base: 'root', suffix: '/tokenize' },
  '/detokenize': { endpoint: 'tokenize', schema: schemas['/detokenize'], base: 'root', suffix: '/detokenize' },
  '/rerank': { endpoint: 'rerank', schema: schemas.rerank, base: 'v1', suffix: '/rerank' },
  '/v1/rerank': { endpoint: 'rerank', schema: schemas.rerank, base: 'v1', suffix: '/rerank' },
  '/v2/rerank': { endpoint: 'rerank', schema: schemas.rerank, base: 'root', suffix: '/v2/rerank' },
  '/score': { endpoint: 'score', schema: schemas.score, base: 'v1', suffix: '/score' },
  '/v1/score': { endpoint: 'score', schema: schemas.score, base: 'v1', suffix: '/score' },
};

export const PASSTHROUGH_PATHS: readonly string[] = Object.keys(ROUTES);
export const PASSTHROUGH_ENDPOINT: Readonly<Record<string, Endpoint>> = Object.fromEntries(PASSTHROUGH_PATHS.map((p) => [p, ROUTES[p]!.endpoint]));

function pathOf(url: string | undefined): string {
  const u = url ?? '';
  const q = u.indexOf('?');
  return q < 0 ? u : u.slice(0, q);
}

function textOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(textOf).join('\n');
  if (v && typeof v === 'object' && typeof (v as { text?: unknown }).text === 'string') return (v as { text: string }).text;
  return '';
}

/** Rerank usage is `{total_tokens}` in vLLM (no prompt/completion split): every token is a prompt token. */
function poolingUsage(data: Buffer): BackendUsage | null {
  const u = findUsage(data);
  if (u) return u;
  const at = data.lastIndexOf('"total_tokens"');
  if (at < 0) return null;
  const m = /^"total_tokens"\s*:\s*(\d+)/.exec(data.toString('utf8', at, Math.min(data.length, at + 40)));
  return m ? { promptTokens: Number(m[1]), completionTokens: 0, cachedTokens: 0 } : null;
}

/** Tokenizing does no inference: such requests count against request limits, never against token budgets. */
const NO_TOKENS = (): BackendUsage => ({ promptTokens: 0, completionTokens: 0, cachedTokens: 0 });

function createPassthroughFamily(endpoint: Endpoint): Family {
  return {
    endpoint,
    credential: bearerCredential,
    writeError,
    async read(incoming: IncomingMessage, limits: BodyLimits, ctx: RequestCtx): Promise<FamilyRequest> {
      const route = ROUTES[pathOf(incoming.url)]!;
      const raw = await readRequestBody(incoming, limits.body_limit);
      const body = validateNamed(route.schema, parseJsonBody(raw, limits.max_json_nodes), ctx);
      const name = body.model as string;
      const promptText =
        endpoint === 'rerank'
          ? `${textOf(body.query)}\n${textOf(body.documents)}`
          : endpoint === 'score'
            ? `${textOf(body.text_1 ?? body.queries)}\n${textOf(body.text_2 ?? body.documents)}`
            : textOf(body.prompt ?? '');
      return {
        model: name,
        stream: false,
        maxTokens: 0,
        generates: false,
        promptText,
        sessionKey: null,
        pinnedBackend: null,
        replayable: () => true,
        serves: (backend) => servesNatively(endpoint, backend),
        call(backend: CompiledBackend): FamilyCall {
          return {
            method: 'POST',
            path: route.suffix === '/v2/rerank' && !servesV2Rerank(backend) ? `${basesOf(backend).v1}/rerank` : basesOf(backend)[route.base] + route.suffix,
            body: backend.model === name ? raw : applyEdits(raw, [{ key: 'model', value: JSON.stringify(backend.model) }]),
            events: null,
            usage: endpoint === 'tokenize' ? NO_TOKENS : poolingUsage,
          };
        },
      };
    },
  };
}

export const tokenizeFamily = createPassthroughFamily('tokenize');
export const rerankFamily = createPassthroughFamily('rerank');
export const scoreFamily = createPassthroughFamily('score');
