/**
 * The request handler of one simulator instance: logs the request, reads the body, dispatches by method and path,
 * and renders any thrown SimHttpError in the instance's personality. Plain node:http, no framework: the simulator is
 * the upstream in overhead benchmarks and must cost as little as possible.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { depthWithin } from '../core/index.js';
import type { SimContext } from './context.js';
import { FAULT_HEADER, mergeFaults, normalizeFault, parseFaultHeader } from './faults.js';
import type { ResponseScope } from './generation/runner.js';
import { runPreamble } from './http/fault-preamble.js';
import { readBody, sendBody, sendError, sendJson } from './http/io.js';
import { SimHttpError, renderError } from './personality/errors.js';
import { flattenHeaders, type RequestLogWriter } from './request-log.js';
import { handleChat } from './routes/chat.js';
import { handleCompletions } from './routes/completions.js';
import { handleEmbeddings } from './routes/embeddings.js';
import type { FastResponder } from './routes/fast.js';
import type { RouteRequest } from './routes/generate-common.js';
import { handleDetokenize, handleMetrics, handleModels, handleTokenize } from './routes/info.js';
import { handleRerank, handleScore } from './routes/pooling.js';
import { handleResponseById, handleResponses } from './routes/responses.js';
import { handleAudio } from './routes/audio.js';
import { anthropicError, handleCountTokens, handleMessages, isMessagesPersonality } from './routes/messages.js';
import type { SimFault, SimLogEntry } from './types.js';

export interface RouterState {
  readonly ctx: SimContext;
  readonly log: RequestLogWriter | null;
  readonly fast: FastResponder | null;
  readonly kvBlocks: number;
  getFault(): SimFault | null;
  setFault(fault: SimFault | null): void;
  restart(): void;
}

const KNOWN_PATHS = new Set([
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/responses',
  '/v1/messages',
  '/v1/audio/transcriptions',
  '/v1/audio/translations',
  '/v1/messages/count_tokens',
  '/v1/models',
  '/health',
  '/metrics',
  '/tokenize',
  '/detokenize',
  '/rerank',
  '/v1/rerank',
  '/v2/rerank',
  '/score',
  '/v1/score',
  '/sim/log',
  '/sim/fault',
  '/sim/restart',
]);

let logCounter = 0;

/**
 * Deeper bodies are the client's 400: the routes serialise parts of a body (tools, tool calls) with JSON.stringify,
 * which recurses and overflows the stack a few thousand levels down, and engines' own JSON parsers cap nesting too.
 */
export const MAX_BODY_DEPTH = 256;

function parseJson(raw: string): unknown {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch (e) {
    throw new SimHttpError(400, `Invalid JSON body: ${(e as Error).message}`);
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new SimHttpError(400, 'The request body must be a JSON object.');
  if (!depthWithin(body, MAX_BODY_DEPTH)) throw new SimHttpError(400, `The request body is nested more than ${MAX_BODY_DEPTH} levels deep.`);
  return body;
}

function track(state: RouterState, req: IncomingMessage, res: ServerResponse, path: string, scope: ResponseScope): SimLogEntry | null {
  const log = state.log;
  if (!log || path.startsWith('/sim/')) return null;
  const entry = log.add({
    id: `log-${++logCounter}`,
    method: req.method ?? 'GET',
    path,
    headers: flattenHeaders(req.headers),
    rawBody: '',
    receivedAt: Date.now(),
    aborted: false,
    finished: false,
  });
  res.on('finish', () => {
    entry.finished = true;
    log.touched(entry);
  });
  res.on('close', () => {
    if (res.writableFinished || scope.serverClosed) return;
    entry.aborted = true;
    log.touched(entry);
  });
  return entry;
}

async function route(state: RouterState, req: IncomingMessage, res: ServerResponse, path: string, scope: ResponseScope): Promise<void> {
  const { ctx } = state;
  const method = req.method ?? 'GET';
  const entry = track(state, req, res, path, scope);
  // Audio uploads are parsed as they stream in, never read whole.
  if (method === 'POST' && (path === '/v1/audio/transcriptions' || path === '/v1/audio/translations')) {
    return handleAudio(ctx, req, res, path.endsWith('translations'));
  }
  const raw = method === 'POST' || method === 'PUT' ? await readBody(req) : '';
  if (entry && raw) {
    entry.rawBody = raw;
    state.log?.touched(entry);
  }
  const headerFault = parseFaultHeader(req.headers[FAULT_HEADER]);
  const serverFault = state.getFault();
  const rr = (body: unknown): RouteRequest => ({ res, body, headerFault, serverFault, scope });

  switch (`${method} ${path}`) {
    case 'POST /v1/chat/completions':
    case 'POST /v1/completions': {
      const kind = path === '/v1/chat/completions' ? 'chat' : 'completions';
      if (state.fast) {
        const fast = state.fast;
        const fault = mergeFaults(serverFault, headerFault);
        if (fault.status === undefined && !fault.stall_before_first_ms) return fast.respond(kind, raw, res);
        return runPreamble(fault, res, ctx.personality, () => fast.respond(kind, raw, res));
      }
      return kind === 'chat' ? handleChat(ctx, rr(parseJson(raw))) : handleCompletions(ctx, rr(parseJson(raw)));
    }
    case 'POST /v1/messages':
      return handleMessages(ctx, rr(parseJson(raw)));
    case 'POST /v1/messages/count_tokens':
      return handleCountTokens(ctx, res, parseJson(raw));
    case 'POST /v1/responses':
      return handleResponses(ctx, rr(parseJson(raw)));
    case 'POST /v1/embeddings':
      return handleEmbeddings(ctx, rr(parseJson(raw)));
    case 'GET /v1/models':
      return handleModels(ctx, res);
    case 'GET /health':
      return sendBody(res, mergeFaults(serverFault, headerFault).refuse ? 503 : 200, 'text/plain', '');
    case 'GET /metrics':
      return handleMetrics(ctx, res, state.kvBlocks);
    case 'POST /tokenize':
      return handleTokenize(ctx, res, parseJson(raw));
    case 'POST /detokenize':
      return handleDetokenize(ctx, res, parseJson(raw));
    case 'POST /rerank':
    case 'POST /v1/rerank':
    case 'POST /v2/rerank':
      return handleRerank(ctx, res, path, parseJson(raw));
    case 'POST /score':
    case 'POST /v1/score':
      return handleScore(ctx, res, parseJson(raw));
    case 'GET /sim/log':
      return sendJson(res, 200, JSON.stringify({ entries: state.log?.entries ?? [] }));
    case 'DELETE /sim/log':
      state.log?.clear();
      return sendJson(res, 200, '{}');
    case 'POST /sim/fault': {
      const body = raw.trim() ? (JSON.parse(raw) as unknown) : null;
      state.setFault(body === null ? null : normalizeFault(body));
      return sendJson(res, 200, JSON.stringify({ fault: state.getFault() }));
    }
    case 'POST /sim/restart':
      state.restart();
      return sendJson(res, 200, '{}');
    default: {
      const byId = /^\/v1\/responses\/([^/]+)(\/cancel)?$/.exec(path);
      if (byId && (method === 'GET' || method === 'POST')) return handleResponseById(ctx, res, decodeURIComponent(byId[1]!), method === 'POST' && byId[2] !== undefined);
      if (KNOWN_PATHS.has(path)) throw new SimHttpError(405, 'Method Not Allowed');
      throw new SimHttpError(404, 'Not Found');
    }
  }
}

export function createRequestHandler(state: RouterState): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const scope: ResponseScope = { serverClosed: false };
    res.on('error', () => {
      // A client that vanished mid-write; the 'close' handlers already clean up.
    });
    route(state, req, res, path, scope).catch((err: unknown) => {
      if (res.headersSent || res.destroyed) return;
      if (err instanceof SimHttpError) {
        // vLLM's Anthropic server answers in Anthropic's error shape.
        if (path.startsWith('/v1/messages') && isMessagesPersonality(state.ctx)) return sendError(res, anthropicError(err.status, err.message));
        return sendError(res, renderError(state.ctx.personality, err.status, err.message, err.param));
      }
      if (err instanceof SyntaxError) return sendError(res, renderError(state.ctx.personality, 400, err.message));
      process.stderr.write(`sim: internal error on ${req.method ?? ''} ${path}: ${(err as Error)?.stack ?? String(err)}\n`);
      sendError(res, renderError(state.ctx.personality, 500, 'Internal simulator error'));
    });
  };
}
