import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError, isGatewayError, type Clock, type Endpoint, type RequestCtx } from '../core/index.js';
import type { CompiledBackend, CompiledModel, RuntimeConfig } from '../config/index.js';
import { authorize, permits, type Authenticator } from '../auth/index.js';
import { refusalKindOf, type Limiter, type Reservation } from '../limits/index.js';
import type { AttemptTracker, RetryBudget, RouteRequest, Router } from '../routing/index.js';
import { rowFromCtx, type OutputEstimator, type TokenCount, type TokenCounter, type UsageWriter } from '../usage/index.js';
import { serverTiming, type RequestSpan, type Telemetry } from '../telemetry/index.js';
import { BackendPools, Heartbeat, UpstreamFailure, findUsage, openAttempt, readBody, relaySse, type BackendUsage, type ClientLink, type FinishReasonSet, type OpenAttempt } from '../upstream/index.js';
import { applyEdits, type Edit } from './json-splice.js';
import { floatsToBase64, hasFloatEmbeddings } from './embeddings-base64.js';
import { renderPrompt, tokenIdCount } from './prompt.js';
import { parseJsonBody, readRequestBody } from './read-body.js';
import { writeError, writeJson } from './respond.js';
import { MAX_MODEL_NAME, validateRequest, type ChatRequest, type CompletionRequest, type EmbeddingRequest, type OpenAIEndpoint, type WireRequest } from './wire.js';
import { relayEvents } from './event-relay.js';
import type { FamilyCall, FamilyRequest } from './family.js';
import { FAMILIES, familyCandidates } from './families.js';

/** The collaborators of the shared pipeline; feature modules plug in here, never into each other. */
export interface PipelineDeps {
  readonly router: Router;
  /** Fleet-wide: every request deposits, every retry or fallback after a failed attempt withdraws. */
  readonly retryBudget: RetryBudget;
  readonly pools: BackendPools;
  readonly clock: Clock;
  readonly telemetry: Telemetry;
  readonly tokens: TokenCounter;
  readonly outputs: OutputEstimator;
  /** The usage log; null when `usage: false`. */
  readonly usage: UsageWriter | null;
  /** Called once per request when it is over, after the usage row (tests, embedding). */
  readonly onEnd?: (ctx: RequestCtx) => void;
}

/** One consistent config snapshot: a request runs start to end on the snapshot it began with. */
export interface LiveConfig {
  readonly cfg: RuntimeConfig;
  /** Null when `auth: none`. */
  readonly authenticator: Authenticator | null;
  /** Null when no limits or quotas are configured. */
  readonly limiter: Limiter | null;
}

const PATH_OF: Record<OpenAIEndpoint, OpenAIEndpoint> = { chat: 'chat', completions: 'completions', embeddings: 'embeddings' };
const STREAM_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' } as const;

const CLIENT_GONE = () => new UpstreamFailure('aborted', new GatewayError('internal', 'The client closed the request.'));

function modelNameTooLong(): GatewayError {
  return new GatewayError('invalid_request', `Invalid value for 'model': model names are at most ${MAX_MODEL_NAME} characters.`, { param: 'model', wireCode: 'invalid_value' });
}

function modelNotFound(name: string): GatewayError {
  return new GatewayError('model_not_found', `The model \`${name}\` does not exist or you do not have access to it.`, {
    param: 'model',
    wireCode: 'model_not_found',
  });
}

interface Prepared {
  endpoint: Endpoint;
  raw: Buffer;
  req: WireRequest;
  route: RouteRequest;
  prompt: TokenCount;
  /** The client did not ask for stream usage; the gateway asks and removes the usage chunk. */
  injectUsage: boolean;
  wantBase64: boolean;
  /** The request of an endpoint family other than chat / completions / embeddings (family.ts), else null. */
  fam: FamilyRequest | null;
}

const NO_BODY = Buffer.alloc(0);

/** A family request's routing view; its body is built per backend by the family (translation, model name). */
function prepareFamily(endpoint: Endpoint, fam: FamilyRequest, model: CompiledModel, ctx: RequestCtx, tokens: TokenCounter): Prepared {
  ctx.stream = fam.stream;
  const prompt = tokens.countText(model.name, fam.promptText);
  ctx.promptTokenEstimate = prompt.tokens;
  const route = { endpoint, promptTokens: prompt.tokens, promptText: fam.promptText, maxTokens: fam.maxTokens, sessionKey: fam.sessionKey };
  return { endpoint, raw: NO_BODY, req: { model: fam.model } as WireRequest, prompt, route, injectUsage: false, wantBase64: false, fam };
}

/** Whether a request generates tokens (reserved and observed as output). */
function generates(p: Prepared): boolean {
  return p.fam ? p.fam.generates : p.endpoint !== 'embeddings';
}

/** One request's state shared by the routing loop and each attempt (one object instead of eight parameters). */
interface Exchange {
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
}

/** Endpoints whose bodies carry `finish_reason`, with the values OpenAI allows there. */
const FINISH_REASONS: Partial<Record<Endpoint, FinishReasonSet>> = { chat: 'chat', completions: 'completions' };

function bodyFor(p: Prepared, backend: CompiledBackend): { body: Buffer; convertBase64: boolean } {
  const edits: Edit[] = [];
  if (p.req.model !== backend.model) edits.push({ key: 'model', value: JSON.stringify(backend.model) });
  if (p.injectUsage) {
    const existing = (p.req as ChatRequest).stream_options;
    edits.push({ key: 'stream_options', value: JSON.stringify({ ...(existing ?? {}), include_usage: true }) });
  }
  const convertBase64 = p.wantBase64 && !backend.embeddingsBase64;
  if (convertBase64) edits.push({ key: 'encoding_format', value: '"float"' });
  return { body: applyEdits(p.raw, edits), convertBase64 };
}

function countPrompt(tokens: TokenCounter, endpoint: Endpoint, model: string, req: WireRequest): TokenCount {
  if (endpoint === 'chat') return tokens.countChatPrompt(model, (req as ChatRequest).messages, (req as ChatRequest).tools ?? undefined);
  return tokens.countText(model, endpoint === 'completions' ? (req as CompletionRequest).prompt : (req as EmbeddingRequest).input);
}

function prepare(endpoint: Endpoint, raw: Buffer, req: WireRequest, model: CompiledModel, ctx: RequestCtx, tokens: TokenCounter, sessionHeader: string | undefined): Prepared {
  const streaming = endpoint !== 'embeddings' && (req as ChatRequest | CompletionRequest).stream === true;
  ctx.stream = streaming;
  const promptText = renderPrompt(endpoint, req);
  const prompt = countPrompt(tokens, endpoint, model.name, req);
  const promptTokens = tokenIdCount(endpoint, req) || prompt.tokens;
  ctx.promptTokenEstimate = promptTokens;
  const maxTokens =
    endpoint === 'embeddings' ? 0 : ((req as ChatRequest).max_completion_tokens ?? (req as ChatRequest | CompletionRequest).max_tokens ?? null);
  const sessionKey = req.prompt_cache_key ?? req.user ?? sessionHeader ?? null;
  return {
    endpoint,
    raw,
    req,
    prompt,
    route: { endpoint, promptTokens, promptText, maxTokens, sessionKey },
    injectUsage: streaming && (req as ChatRequest).stream_options?.include_usage !== true,
    wantBase64: endpoint === 'embeddings' && (req as EmbeddingRequest).encoding_format === 'base64',
    fam: null,
  };
}

/**
 * Ends an attempt that threw. A client that went away or a backend 4xx (the caller's mistake) says nothing about
 * the backend's health, so only real upstream failures count against it.
 */
function endFailed(tracker: AttemptTracker, err: unknown): void {
  if (err instanceof UpstreamFailure && err.backendAtFault) tracker.end({ ok: false, failure: err.kind === 'bad_response' || err.kind === 'aborted' ? 'status_5xx' : err.kind });
  else tracker.end({ ok: true });
}

function failureType(err: unknown): string | null {
  if (err instanceof UpstreamFailure) return err.kind === 'aborted' ? null : err.kind;
  return isGatewayError(err) ? (err.wireCode ?? err.code) : 'internal';
}

function statusOf(err: unknown): number | null {
  return isGatewayError(err) ? err.status : err instanceof UpstreamFailure && err.kind.startsWith('status_') ? err.clientError.status : null;
}

function setUsage(ctx: RequestCtx, usage: BackendUsage | null, fallbackCompletion: number): void {
  ctx.usage = usage
    ? { ...usage, source: 'backend' }
    : { promptTokens: ctx.promptTokenEstimate, completionTokens: fallbackCompletion, cachedTokens: 0, source: 'estimated' };
}

/**
 * The one pipeline every OpenAI endpoint goes through: parse once, validate what we route on, resolve the model,
 * plan candidates, try them in order (and then fallback models) until one answers, relay its bytes unchanged.
 * Invariant: never retry once a byte has reached the client.
 */
export function createPipeline(deps: PipelineDeps) {
  const { router, retryBudget, pools, clock, telemetry } = deps;

  /**
   * Any attempt after a failed one (another backend, or a fallback model) spends the fleet-wide retry budget; when it
   * is spent the request ends with its last failure, so a failing fleet is not hit (retries + 1) times per request.
   */
  function mayRetry(m: CompiledModel): boolean {
    if (retryBudget.tryWithdraw()) return true;
    telemetry.recordRetryDenied(m.name);
    return false;
  }

  async function tryBackend(x: Exchange, backend: CompiledBackend): Promise<void> {
    const { p, cfg, ctx, out, client, respHeaders, span, heartbeat } = x;
    const call: FamilyCall | null = p.fam ? p.fam.call(backend) : null;
    const { body, convertBase64 } = call ? { body: call.body, convertBase64: false } : bodyFor(p, backend);
    const t = cfg.server.timeouts;
    const tracker = router.begin(backend, p.route);
    ctx.attempts++;
    ctx.backendId = backend.id;
    ctx.upstreamModel = backend.model;
    const attemptStart = clock.now();
    const attemptSpan = span?.startAttempt(backend.url, ctx.attempts, backend.model) ?? null;
    const headers: Record<string, string> = { 'x-request-id': ctx.id };
    const traceparent = telemetry.traceparentFor(ctx, attemptSpan);
    if (traceparent) headers.traceparent = traceparent;
    if (ctx.tracestate) headers.tracestate = ctx.tracestate;
    let open: OpenAttempt;
    try {
      open = await openAttempt(pools, {
        backend,
        path: call ? call.path : backend.paths[PATH_OF[p.endpoint as OpenAIEndpoint]],
        ...(call ? { method: call.method, contentType: call.contentType } : {}),
        body,
        stream: ctx.stream,
        deadlines: ctx.stream || t.request >= t.total
          ? { firstByteMs: t.first_byte, idleMs: t.idle, endMs: ctx.startMs + t.total, endName: 'total', endLimitMs: t.total }
          : { firstByteMs: t.first_byte, idleMs: t.idle, endMs: ctx.startMs + t.request, endName: 'request', endLimitMs: t.request },
        headers,
        now: clock.now,
        client,
      });
    } catch (err) {
      endFailed(tracker, err);
      attemptSpan?.end(failureType(err), statusOf(err));
      throw err;
    }

    if (ctx.stream && String(open.headers['content-type'] ?? '').includes('text/event-stream')) {
      let result;
      try {
        result = call?.events ? await relayEvents(open, out, {
          headers: { ...STREAM_HEADERS, ...respHeaders, 'server-timing': serverTiming(ctx, attemptStart) },
          transform: call.events,
          heartbeat,
          maxEventBytes: cfg.server.max_event_size,
          onFirstByte: () => {
            ctx.firstByteMs = clock.now();
            tracker.firstToken();
            attemptSpan?.firstByte();
          },
          onEvents: (n) => tracker.tokens(n),
        }) : await relaySse(open, out, {
          headers: { ...STREAM_HEADERS, ...respHeaders, 'server-timing': serverTiming(ctx, attemptStart) },
          stripUsageChunk: p.injectUsage,
          finishReasons: FINISH_REASONS[p.endpoint] ?? 'chat',
          maxEventBytes: cfg.server.max_event_size,
          heartbeat,
          onFirstByte: () => {
            ctx.firstByteMs = clock.now();
            tracker.firstToken();
            attemptSpan?.firstByte();
          },
          onEvents: (n) => tracker.tokens(n),
        });
      } catch (err) {
        endFailed(tracker, err);
        attemptSpan?.end(failureType(err), null);
        throw err;
      }
      setUsage(ctx, result.usage, result.contentEvents);
      attemptSpan?.end(result.end === 'done' || result.end === 'client_abort' ? null : result.end, 200);
      ctx.upstreamMs = clock.now() - attemptStart;
      const u = ctx.usage!;
      if (result.end === 'done') {
        tracker.end({ ok: true, promptTokens: u.promptTokens, cachedTokens: u.cachedTokens, completionTokens: u.completionTokens });
      } else if (result.end === 'client_abort') {
        ctx.outcome = 'client_abort';
        ctx.status = 499;
        ctx.errorCode = 'client_closed_request';
        tracker.end({ ok: true, completionTokens: u.completionTokens });
      } else {
        ctx.outcome = 'upstream_error';
        ctx.errorCode = result.end;
        ctx.status = result.end === 'upstream_timeout' ? 504 : 502;
        // A deadline the client ran into by reading slowly, or an error the engine reported itself, is not a
        // transport failure of the backend.
        if (!result.backendAtFault) tracker.end({ ok: true, completionTokens: u.completionTokens });
        else tracker.end({ ok: false, failure: result.end === 'upstream_timeout' ? 'timeout' : result.end === 'upstream_error_event' ? 'status_5xx' : 'reset' });
      }
      return;
    }

    let data: Buffer;
    try {
      data = await readBody(open, { limit: cfg.server.response_limit, finishReasons: FINISH_REASONS[p.endpoint] ?? null, anyContent: call?.anyContent === true });
    } catch (err) {
      endFailed(tracker, err);
      attemptSpan?.end(failureType(err), open.status);
      throw err;
    }
    attemptSpan?.end(null, open.status);
    ctx.upstreamMs = clock.now() - attemptStart;
    setUsage(ctx, call?.usage ? call.usage(data) : findUsage(data), 0);
    if (call?.mapBody) data = call.mapBody(data);
    const u = ctx.usage!;
    tracker.end({ ok: true, promptTokens: u.promptTokens, cachedTokens: u.cachedTokens, completionTokens: u.completionTokens });
    // Whatever the config says a backend can do, a float array answered to a base64 request is converted: an SDK
    // would otherwise decode the JSON text as vectors.
    if (convertBase64 || (p.wantBase64 && hasFloatEmbeddings(data))) {
      try {
        data = floatsToBase64(data);
      } catch {
        throw new GatewayError('upstream_error', `Backend ${backend.id} returned an embeddings response that is not valid JSON.`);
      }
    }
    const now = clock.now();
    ctx.firstByteMs = now;
    respHeaders['server-timing'] = serverTiming(ctx, now);
    ctx.status = open.status;
    const ct = call?.anyContent ? open.headers['content-type'] : undefined;
    writeJson(out, open.status, data, respHeaders, typeof ct === 'string' ? ct : 'application/json');
  }

  async function route(x: Exchange, model: CompiledModel): Promise<void> {
    const { p, cfg, client, span } = x;
    let lastError: GatewayError | null = null;
    let lastKind: string | null = null;
    const chain: CompiledModel[] = [model];
    for (const name of model.fallback) {
      const fb = cfg.models.get(name);
      // A fallback answers for the caller only where the caller may call it directly: never a way around scopes.
      if (fb && !chain.includes(fb) && (!x.authorizes || permits(x.ctx.principal, fb.name, p.endpoint))) chain.push(fb);
    }
    retryBudget.deposit();
    for (const m of chain) {
      if (m !== model) {
        if (lastKind !== null && !mayRetry(model)) break;
        telemetry.recordFallback(model.name, m.name);
      }
      let candidates;
      const routing = span?.startRouting() ?? null;
      try {
        const planned = router.plan(m.pool, p.route);
        // A queued request whose client left while it waited gives its turn back as soon as it is dispatched.
        candidates = Array.isArray(planned) ? planned : await planned;
        if (p.fam) candidates = familyCandidates(p.fam, candidates, m, p.endpoint);
        if (client.gone) {
          router.abandon(p.route);
          throw CLIENT_GONE();
        }
        routing?.end(candidates[0]?.id ?? null, candidates.length);
      } catch (err) {
        routing?.end(null);
        if (isGatewayError(err) && err.code === 'no_healthy_backend') {
          lastError = err;
          continue;
        }
        throw err;
      }
      const limit = Math.min(candidates.length, m.retries + 1);
      let denied = false;
      for (let i = 0; i < limit; i++) {
        if (client.gone) throw CLIENT_GONE();
        if (i > 0) {
          if (!mayRetry(m)) {
            denied = true;
            break;
          }
          telemetry.recordRetry(m.name, lastKind ?? 'unknown');
        }
        try {
          await tryBackend(x, candidates[i] as CompiledBackend);
          return;
        } catch (err) {
          if (!(err instanceof UpstreamFailure) || !err.retryable) throw err;
          // An upload streamed from the client's socket cannot be sent again once it started flowing.
          if (p.fam && !p.fam.replayable()) throw err;
          lastError = err.clientError;
          lastKind = err.kind;
        }
      }
      if (denied) break;
    }
    throw lastError ?? new GatewayError('no_healthy_backend', `No backend of model "${model.name}" is available.`);
  }

  /** Handles one request end to end; never throws (errors are written to the client). */
  async function handle(endpoint: Endpoint, live: LiveConfig, ctx: RequestCtx, incoming: IncomingMessage, out: ServerResponse): Promise<void> {
    const cfg = live.cfg;
    ctx.endpoint = endpoint;
    const respHeaders: Record<string, string | number> = { 'x-request-id': ctx.id };
    const span = telemetry.startRequest(ctx);
    const client: ClientLink = { gone: false, onGone: null };
    const onClose = () => {
      if (out.writableFinished) return;
      client.gone = true;
      client.onGone?.();
    };
    out.on('close', onClose);
    let reservation: Reservation | null = null;
    let prepared: Prepared | null = null;
    let heartbeat: Heartbeat | null = null;
    let model: CompiledModel | undefined;
    const family = FAMILIES.get(endpoint) ?? null;
    let fam: FamilyRequest | null = null;
    try {
      // Authenticate before reading the body: an anonymous caller costs no upload and no parse.
      if (live.authenticator) {
        const who = live.authenticator.authenticate(family ? family.credential(incoming.headers) : incoming.headers.authorization);
        // A cached token comes back synchronously: no extra turn of the microtask queue on the hot path.
        ctx.principal = who instanceof Promise ? await who : who;
      }
      if (family) fam = await family.read(incoming, cfg.server.body_limit, ctx);
      const raw = fam ? NO_BODY : await readRequestBody(incoming, cfg.server.body_limit);
      const req = fam ? null : validateRequest(endpoint as OpenAIEndpoint, parseJsonBody(raw), cfg.server.max_messages);
      const requested = fam ? fam.model : req!.model;
      // Every family: a name no model can have is refused before it is echoed, logged or stored.
      if (requested.length > MAX_MODEL_NAME) throw modelNameTooLong();
      ctx.requestedModel = requested;
      model = cfg.models.get(requested);
      if (!model) throw modelNotFound(requested);
      if (live.authenticator) authorize(ctx.principal, requested === model.name ? model.name : [requested, model.name], endpoint);
      const session = incoming.headers['x-session-id'];
      const p = fam ? prepareFamily(endpoint, fam, model, ctx, deps.tokens) : prepare(endpoint, raw, req!, model, ctx, deps.tokens, typeof session === 'string' ? session : undefined);
      prepared = p;
      if (span && p.route.maxTokens) span.setMaxTokens(p.route.maxTokens);
      if (live.limiter) {
        const output = generates(p) ? deps.outputs.estimate(model.name, p.route.maxTokens).upperBound : 0;
        const r = live.limiter.reserve(
          { subject: ctx.principal.subject, team: ctx.principal.team, model: model.name, key: ctx.principal.keyId ?? null, estimatedTokens: ctx.promptTokenEstimate + output },
          respHeaders as Record<string, string>,
        );
        // Shared limits answer synchronously from local leases; only a lease shortfall awaits the authority.
        reservation = r instanceof Promise ? await r : r;
      }
      heartbeat = ctx.stream && cfg.server.stream_heartbeat > 0 ? new Heartbeat(out, cfg.server.stream_heartbeat) : null;
      await route({ p, cfg, ctx, out, client, respHeaders, span, heartbeat, authorizes: live.authenticator !== null }, model);
    } catch (err) {
      if (err instanceof UpstreamFailure && err.kind === 'aborted') {
        ctx.outcome = 'client_abort';
        ctx.status = 499;
        ctx.errorCode = 'client_closed_request';
      } else {
        const e = err instanceof UpstreamFailure ? err.clientError : err;
        ctx.status = (family ? family.writeError : writeError)(out, e, respHeaders as Record<string, string>);
        ctx.errorCode = isGatewayError(e) ? (e.wireCode ?? e.code) : 'internal';
        ctx.outcome =
          ctx.status === 401 || ctx.status === 403 ? 'unauthorized' : ctx.status === 429 ? 'rate_limited' : ctx.status >= 500 ? 'upstream_error' : 'client_error';
        const refused = refusalKindOf(e);
        if (refused) telemetry.recordRateLimited(refused);
        if (!isGatewayError(e)) process.emitWarning(`infergate: unexpected error in request ${ctx.id}: ${(e as Error)?.stack ?? String(e)}`);
      }
    } finally {
      heartbeat?.stop();
      out.removeListener('close', onClose);
      fam?.dispose?.();
      ctx.endMs = clock.now();
      const u = ctx.usage;
      // Settle with what was really used: the backend's count, the partial count of an aborted stream, or
      // nothing when no backend produced tokens (the request still counts against requests per minute).
      reservation?.settle(u ? u.promptTokens + u.completionTokens : 0);
      if (u && u.source === 'backend' && model && prepared) {
        deps.tokens.observePrompt(model.name, prepared.prompt, u.promptTokens);
        if (ctx.outcome === 'success' && generates(prepared)) deps.outputs.observe(model.name, u.completionTokens);
      }
      telemetry.endRequest(ctx, span);
      deps.usage?.record(rowFromCtx(ctx, ctx.endMs));
      deps.onEnd?.(ctx);
    }
  }

  return { handle };
}

export type Pipeline = ReturnType<typeof createPipeline>;
