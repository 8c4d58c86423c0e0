import type { CompiledBackend } from '../config/index.js';
import type { Endpoint } from '../core/index.js';

type Kind = CompiledBackend['kind'];

/**
 * Which engines serve which endpoint family natively (as of their 2025–26 releases). vLLM serves them all; SGLang
 * has /tokenize and /v1/rerank; llama.cpp's server has /v1/rerank and the Anthropic /v1/messages; OpenAI serves
 * the Responses API and audio. The Responses API is also served to every other kind, by translation to chat
 * completions (responses/translate-*.ts). A backend of a kind not listed is skipped for the family.
 */
const NATIVE: Partial<Record<Endpoint, ReadonlySet<Kind>>> = {
  responses: new Set<Kind>(['vllm', 'openai']),
  messages: new Set<Kind>(['vllm', 'llamacpp']),
  rerank: new Set<Kind>(['vllm', 'sglang', 'llamacpp']),
  score: new Set<Kind>(['vllm']),
  tokenize: new Set<Kind>(['vllm', 'sglang']),
  audio: new Set<Kind>(['vllm', 'openai']),
};

export function servesNatively(endpoint: Endpoint, backend: CompiledBackend): boolean {
  return NATIVE[endpoint]?.has(backend.kind) ?? true;
}

/**
 * Cohere's v2 rerank route is vLLM's alone. SGLang and llama.cpp take the same request (query, documents, top_n) and
 * answer it in the same shape at /v1/rerank, and answer 404 at /v2/rerank, so that is where a v2 call goes for them.
 */
const V2_RERANK = new Set<Kind>(['vllm']);

export function servesV2Rerank(backend: CompiledBackend): boolean {
  return V2_RERANK.has(backend.kind);
}

/** A backend's two bases: the server root (`/health`, `/tokenize`, `/v2/rerank`) and its `/v1` API base. */
export interface BackendBases {
  readonly root: string;
  readonly v1: string;
}

// Derived once per backend from the paths config compiled, so a request only concatenates a constant suffix.
const bases = new WeakMap<CompiledBackend, BackendBases>();

export function basesOf(backend: CompiledBackend): BackendBases {
  let b = bases.get(backend);
  if (!b) {
    b = Object.freeze({
      root: backend.paths.health.slice(0, -'/health'.length),
      v1: backend.paths.chat.slice(0, -'/chat/completions'.length),
    });
    bases.set(backend, b);
  }
  return b;
}
