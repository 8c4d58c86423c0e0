import type { IncomingMessage } from 'node:http';
import type { CompiledBackend } from '../../config/index.js';
import { GatewayError, type RequestCtx } from '../../core/index.js';
import { boundedSessionKey } from '../../routing/index.js';
import { findUsage, type BackendUsage } from '../../upstream/index.js';
import { basesOf, servesNatively } from '../backend-support.js';
import { bearerCredential, type BodyLimits, type Family, type FamilyCall, type FamilyRequest } from '../family.js';
import { applyEdits } from '../json-splice.js';
import { parseJsonBody, readRequestBody } from '../read-body.js';
import { writeError } from '../respond.js';
import { validateNamed } from '../wire.js';
import { chatToResponse } from './from-chat.js';
import { NativeResponsesStream, storedId } from './native.js';
import { ResponseStore } from './store.js';
import { ChatToResponsesStream } from './stream.js';
import { refuseStateful, toChatBody } from './to-chat.js';
import { responsesPromptText, responsesRequest, type ResponsesRequest } from './wire.js';

/**
 * The Responses API: `POST /v1/responses` passed through to engines that serve it (vLLM, OpenAI) and translated to
 * chat completions for the others; `GET /v1/responses/{id}` and `POST /v1/responses/{id}/cancel` sent to the
 * backend that stored the response (see store.ts); `previous_response_id` pinned to that backend too.
 */
const CREATE_ROUTE = '/v1/responses';
const INPUT_TOKENS_ROUTE = '/v1/responses/input_tokens';
const ID_ROUTE = /^\/v1\/responses\/([A-Za-z0-9_\-.:]{1,200})(\/cancel|\/input_items)?$/;
/** What a call names a stored response for, with the method each takes. */
type IdCall = 'retrieve' | 'delete' | 'cancel' | 'input_items';

function idCallOf(sub: string | undefined, method: string | undefined): IdCall | null {
  if (sub === '/cancel') return method === 'POST' ? 'cancel' : null;
  if (sub === '/input_items') return method === 'GET' || method === 'HEAD' ? 'input_items' : null;
  if (method === 'DELETE') return 'delete';
  return method === 'GET' || method === 'HEAD' ? 'retrieve' : null;
}
/** How much of an id that is not one a 404 repeats. */
const SHOWN_ID = 200;
const NO_TOKENS = (): BackendUsage => ({ promptTokens: 0, completionTokens: 0, cachedTokens: 0 });

/** The request target split into its path and its query string (`?` included, or ''). */
function splitTarget(url: string | undefined): [path: string, query: string] {
  const u = url ?? '';
  const q = u.indexOf('?');
  return q < 0 ? [u, ''] : [u.slice(0, q), u.slice(q)];
}

/**
 * The Responses field a chat backend's error names in the translated request: `max_tokens` is `max_output_tokens`,
 * `messages…` is `input` (indices differ: instructions and developer turns are merged), `tools.0.function.name` is
 * `tools[0].name`, `response_format…` is `text.format`, `logprobs` is `top_logprobs`.
 */
export function responsesParam(param: string): string {
  if (param === 'max_tokens' || param === 'max_completion_tokens') return 'max_output_tokens';
  if (/^messages\b/.test(param)) return 'input';
  const tool = /^tools[.[](\d+)\]?(?:\.function)?(?:\.(\w+))?/.exec(param);
  if (tool) return `tools[${tool[1]}]${tool[2] ? `.${tool[2]}` : ''}`;
  if (/^response_format\b/.test(param)) return 'text.format';
  if (param === 'logprobs') return 'top_logprobs';
  return param;
}

function notFound(id: string): GatewayError {
  if (id === '') return new GatewayError('not_found', 'The path names no response id.', { param: 'response_id', wireCode: 'response_not_found' });
  const shown = id.length > SHOWN_ID ? `${id.slice(0, SHOWN_ID)}…` : id;
  return new GatewayError('not_found', `No response with id '${shown}' is known to this gateway; responses can be retrieved where the backend stored them (store: true on a backend that stores).`, {
    param: 'response_id',
    wireCode: 'response_not_found',
  });
}

/** A request that only a stateful (native) backend can serve. */
function needsState(req: ResponsesRequest): boolean {
  return req.store === true || !!req.previous_response_id || req.background === true || !!req.conversation;
}

/** The client's body for an engine that serves Responses itself: the backend's model name, the gateway's output cap. */
function nativeBody(raw: Buffer, model: string | null, cap: number | null): Buffer {
  const edits = [];
  if (model !== null) edits.push({ key: 'model', value: JSON.stringify(model) });
  if (cap !== null) edits.push({ key: 'max_output_tokens', value: String(cap) });
  return edits.length === 0 ? raw : applyEdits(raw, edits);
}

export function createResponsesFamily(store = new ResponseStore()): Family {
  async function create(raw: Buffer, req: ResponsesRequest, ctx: RequestCtx): Promise<FamilyRequest> {
    let pinned: string | null = null;
    if (req.previous_response_id) {
      const prev = await store.find(req.previous_response_id, ctx.principal.subject);
      if (!prev) {
        throw new GatewayError('invalid_request', `Previous response with id '${req.previous_response_id}' is not known to this gateway; continuing a conversation needs a response stored by a backend that stores responses.`, {
          param: 'previous_response_id',
          wireCode: 'previous_response_not_found',
        });
      }
      pinned = prev.backendId;
    }
    const stateful = needsState(req);
    const stream = req.stream === true;
    const model = req.model;
    let cap: number | null = null;
    const remember = (backend: CompiledBackend) => (id: string, stored: boolean) => {
      if (stored) store.remember(id, { backendId: backend.id, model, subject: ctx.principal.subject });
    };
    return {
      model,
      stream,
      maxTokens: req.max_output_tokens ?? null,
      generates: true,
      promptText: responsesPromptText(req),
      sessionKey: boundedSessionKey(req.prompt_cache_key ?? req.user),
      pinnedBackend: pinned,
      replayable: () => true,
      capOutput(tokens) {
        cap = tokens;
      },
      serves: (b) => servesNatively('responses', b) || !stateful,
      refusal() {
        try {
          refuseStateful(req);
          return null;
        } catch (err) {
          return err as GatewayError;
        }
      },
      call(backend): FamilyCall {
        const v1 = basesOf(backend).v1;
        if (servesNatively('responses', backend)) {
          const onCreated = remember(backend);
          return {
            method: 'POST',
            path: `${v1}/responses`,
            body: nativeBody(raw, backend.model === model ? null : backend.model, cap),
            events: stream ? new NativeResponsesStream(backend.label, onCreated) : null,
            mapBody(data) {
              try {
                const s = storedId(JSON.parse(data.toString('utf8')));
                if (s) onCreated(s.id, s.stored);
              } catch {
                // Relayed as the backend sent it.
              }
              return data;
            },
          };
        }
        return {
          method: 'POST',
          path: `${v1}/chat/completions`,
          body: toChatBody(cap === null ? req : { ...req, max_output_tokens: cap }, backend.model),
          events: stream ? new ChatToResponsesStream(req) : null,
          clientParam: responsesParam,
          mapBody(data) {
            let chat: Record<string, unknown>;
            try {
              chat = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
            } catch {
              throw new GatewayError('upstream_error', `Backend ${backend.label} returned a chat completion that is not valid JSON.`);
            }
            return Buffer.from(JSON.stringify(chatToResponse(req, chat, findUsage(data))));
          },
        };
      },
    };
  }

  /**
   * GET and DELETE /v1/responses/{id}, POST /v1/responses/{id}/cancel, GET /v1/responses/{id}/input_items: to the
   * backend that stored it, with the query string; a streamed retrieve (`?stream=true`) is relayed as a stream.
   */
  async function byId(id: string, op: IdCall, query: string, ctx: RequestCtx): Promise<FamilyRequest> {
    const entry = await store.find(id, ctx.principal.subject);
    if (!entry) throw notFound(id);
    const stream = op === 'retrieve' && /[?&]stream=true(&|$)/.test(query);
    const suffix = op === 'cancel' ? '/cancel' : op === 'input_items' ? '/input_items' : '';
    return {
      model: entry.model,
      stream,
      maxTokens: 0,
      generates: false,
      promptText: '',
      sessionKey: null,
      pinnedBackend: entry.backendId,
      replayable: () => true,
      serves: (b) => b.id === entry.backendId,
      call: (backend) => ({
        method: op === 'cancel' ? 'POST' : op === 'delete' ? 'DELETE' : 'GET',
        path: `${basesOf(backend).v1}/responses/${encodeURIComponent(id)}${suffix}${query}`,
        body: null,
        events: stream ? new NativeResponsesStream(backend.label, () => {}) : null,
        usage: NO_TOKENS,
        ...(op === 'delete'
          ? {
              mapBody(data: Buffer) {
                store.forget(id);
                return data;
              },
            }
          : {}),
      }),
    };
  }

  return {
    endpoint: 'responses',
    credential: bearerCredential,
    writeError,
    async read(incoming: IncomingMessage, limits: BodyLimits, ctx: RequestCtx): Promise<FamilyRequest> {
      const [path, query] = splitTarget(incoming.url);
      if (path === CREATE_ROUTE && incoming.method === 'POST') {
        const raw = await readRequestBody(incoming, limits.body_limit);
        return create(raw, validateNamed(responsesRequest, parseJsonBody(raw, limits.max_json_nodes), ctx), ctx);
      }
      // Everything else below /v1/responses names a response; no body is read, and none ever creates one (an id
      // that is not one, or a method its route does not take, would otherwise fall through to a billed generation).
      incoming.resume();
      if (path === INPUT_TOKENS_ROUTE) {
        throw new GatewayError('not_found', 'Counting input tokens (POST /v1/responses/input_tokens) is not served by this gateway: engines do not serve it; POST /tokenize counts a prompt where the engine serves it.', { wireCode: 'unknown_url' });
      }
      const m = ID_ROUTE.exec(path);
      const op = m ? idCallOf(m[2], incoming.method) : null;
      if (m && op) return byId(m[1]!, op, query, ctx);
      throw notFound(path.slice(CREATE_ROUTE.length + 1).replace(/\/(cancel|input_items)$/, ''));
    },
  };
}
