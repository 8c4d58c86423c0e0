/**
 * The pooling endpoints of a cross-encoder model: rerank (Jina/Cohere style) at the paths each engine serves it
 * (vLLM /rerank, /v1/rerank and /v2/rerank; llama.cpp /rerank and /v1/rerank; SGLang /v1/rerank only) and /score, in
 * each engine's shape. vLLM reports rerank usage as `{total_tokens}` only and score usage as OpenAI's
 * usage object; llama.cpp's rerank reports `{prompt_tokens, total_tokens}` and no document echo. Relevance is the
 * share of the document's words that appear in the query, so the ordering is predictable in tests.
 */
import type { SimContext } from '../context.js';
import { sendJson } from '../http/io.js';
import { SimHttpError } from '../personality/errors.js';
import { countTokens } from '../text/tokenizer.js';
import { checkModel } from './generate-common.js';
import { parseRequest, RerankRequest, ScoreRequest } from './schemas.js';

const WORD = /[a-z0-9]+/g;

function words(text: string): Set<string> {
  return new Set(text.toLowerCase().match(WORD) ?? []);
}

export function relevance(query: string, doc: string): number {
  const q = words(query);
  const d = [...words(doc)];
  if (d.length === 0) return 0;
  const shared = d.filter((w) => q.has(w)).length;
  // Squashed into (0, 1) like a cross-encoder's sigmoid output; never exactly 0 or 1.
  return Number((0.01 + (0.98 * shared) / d.length).toFixed(6));
}

const RERANK_PATHS: Partial<Record<SimContext['personality'], readonly string[]>> = {
  vllm: ['/rerank', '/v1/rerank', '/v2/rerank'],
  llamacpp: ['/rerank', '/v1/rerank'],
  sglang: ['/v1/rerank'],
};

export function handleRerank(ctx: SimContext, res: Parameters<typeof sendJson>[0], path: string, body: unknown): void {
  if (!RERANK_PATHS[ctx.personality]?.includes(path)) throw new SimHttpError(404, 'Not Found');
  const b = parseRequest(RerankRequest, body);
  const model = checkModel(ctx, b.model);
  const docs = b.documents.map((d) => (typeof d === 'string' ? d : d.text));
  let tokens = 0;
  const scored = docs.map((text, index) => {
    tokens += countTokens(b.query) + countTokens(text);
    return { index, text, score: relevance(b.query, text) };
  });
  scored.sort((a, x) => x.score - a.score || a.index - x.index);
  const top = b.top_n && b.top_n > 0 ? scored.slice(0, b.top_n) : scored;
  if (ctx.personality === 'llamacpp') {
    const results = top.map((s) => ({ index: s.index, relevance_score: s.score }));
    return sendJson(res, 200, JSON.stringify({ model, object: 'list', usage: { prompt_tokens: tokens, total_tokens: tokens }, results }));
  }
  const withDocs = b.return_documents !== false;
  const results = top.map((s) => ({ index: s.index, document: withDocs ? { text: s.text } : null, relevance_score: s.score }));
  sendJson(res, 200, JSON.stringify({ id: ctx.nextId('rerank'), model, usage: { total_tokens: tokens }, results }));
}

export function handleScore(ctx: SimContext, res: Parameters<typeof sendJson>[0], body: unknown): void {
  if (ctx.personality !== 'vllm') throw new SimHttpError(404, 'Not Found');
  const b = parseRequest(ScoreRequest, body);
  const model = checkModel(ctx, b.model);
  const left = typeof b.text_1 === 'string' ? [b.text_1] : b.text_1;
  const right = typeof b.text_2 === 'string' ? [b.text_2] : b.text_2;
  if (left.length !== 1 && left.length !== right.length) throw new SimHttpError(400, 'text_1 and text_2 must have the same length, or text_1 one item.', 'text_1');
  let tokens = 0;
  const data = right.map((r, index) => {
    const l = left.length === 1 ? left[0]! : left[index]!;
    tokens += countTokens(l) + countTokens(r);
    return { index, object: 'score', score: relevance(l, r) };
  });
  const usage = { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0, prompt_tokens_details: null };
  sendJson(res, 200, JSON.stringify({ id: ctx.nextId('score'), object: 'list', created: Math.floor(Date.now() / 1000), model, data, usage }));
}
