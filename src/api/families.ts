import type { CompiledBackend, CompiledModel } from '../config/index.js';
import { GatewayError, type Endpoint } from '../core/index.js';
import type { Family, FamilyRequest } from './family.js';
import { createResponsesFamily } from './responses/family.js';
import type { ResponseStore } from './responses/store.js';
import { messagesFamily } from './anthropic/family.js';
import { audioFamily } from './audio/family.js';
import { PASSTHROUGH_ENDPOINT, PASSTHROUGH_PATHS, rerankFamily, scoreFamily, tokenizeFamily } from './passthrough-routes.js';

/** The endpoint families served by a pipeline besides chat, completions and embeddings. */
export function createFamilies(responses: ResponseStore): ReadonlyMap<Endpoint, Family> {
  return new Map<Endpoint, Family>([tokenizeFamily, rerankFamily, scoreFamily, createResponsesFamily(responses), messagesFamily, audioFamily].map((f) => [f.endpoint, f]));
}

/** The routes of the families, for the server's router (Hono path syntax); each method not listed answers 405. */
export const FAMILY_ROUTES: ReadonlyArray<{ readonly method: 'GET' | 'POST' | 'DELETE'; readonly path: string; readonly endpoint: Endpoint }> = [
  ...PASSTHROUGH_PATHS.map((path) => ({ method: 'POST' as const, path, endpoint: PASSTHROUGH_ENDPOINT[path]! })),
  { method: 'POST', path: '/v1/responses', endpoint: 'responses' },
  { method: 'GET', path: '/v1/responses/:id', endpoint: 'responses' },
  { method: 'DELETE', path: '/v1/responses/:id', endpoint: 'responses' },
  { method: 'GET', path: '/v1/responses/:id/input_items', endpoint: 'responses' },
  { method: 'POST', path: '/v1/responses/:id/cancel', endpoint: 'responses' },
  { method: 'POST', path: '/v1/responses/input_tokens', endpoint: 'responses' },
  { method: 'POST', path: '/v1/messages', endpoint: 'messages' },
  { method: 'POST', path: '/v1/messages/count_tokens', endpoint: 'messages' },
  { method: 'POST', path: '/v1/audio/transcriptions', endpoint: 'audio' },
  { method: 'POST', path: '/v1/audio/translations', endpoint: 'audio' },
];

const FAMILY_NAMES: Partial<Record<Endpoint, string>> = {
  responses: 'the Responses API',
  messages: 'the Anthropic Messages API',
  rerank: 'rerank',
  score: 'score',
  tokenize: 'tokenize',
  audio: 'audio transcription',
};

/**
 * The planned candidates that can serve a family request: backends whose engine serves it, or only the backend that
 * holds a stored response. None left is a 400 when no backend of the model could ever serve it (a client's mistake,
 * not an outage), else the request waits for the pinned backend like any other (503 when it is down).
 */
export function familyCandidates<T extends { readonly id: string }>(fam: FamilyRequest, planned: readonly T[], model: CompiledModel, endpoint: Endpoint): T[] {
  // Planned targets are the model's compiled backends (routing sees them through its own narrower type).
  const kept = planned.filter((b) => (fam.pinnedBackend === null || b.id === fam.pinnedBackend) && fam.serves(b as unknown as CompiledBackend));
  if (kept.length > 0) return kept;
  const able = model.backends.some((b) => (fam.pinnedBackend === null || b.id === fam.pinnedBackend) && fam.serves(b));
  if (!able) {
    throw fam.refusal?.() ?? new GatewayError('invalid_request', `No backend of model "${model.name}" serves ${FAMILY_NAMES[endpoint] ?? endpoint}.`, {
      param: 'model',
      wireCode: 'unsupported_endpoint',
    });
  }
  throw new GatewayError('no_healthy_backend', `The backend of model "${model.name}" that can serve this request is not available.`);
}
