import { GatewayError, isGatewayError, type Clock, type Endpoint, type RequestCtx } from '../core/index.js';
import type { CompiledBackend } from '../config/index.js';
import type { AttemptTracker, Router } from '../routing/index.js';
import { serverTiming, type Telemetry } from '../telemetry/index.js';
import { BackendPools, UpstreamFailure, believableUsage, estimateOutputTokens, findUsage, openAttempt, readBody, relaySse, type BackendUsage, type FinishReasonSet, type OpenAttempt } from '../upstream/index.js';
import { floatsToBase64, hasFloatEmbeddings } from './embeddings-base64.js';
import { writeJson } from './respond.js';
import type { OpenAIEndpoint } from './wire.js';
import { relayEvents } from './event-relay.js';
import type { FamilyCall } from './family.js';
import { bodyFor, type Exchange } from './prepare.js';

/** Media types are case-insensitive (RFC 9110): `Text/Event-Stream` is a stream too. */
const SSE_TYPE = /text\/event-stream/i;

const PATH_OF: Record<OpenAIEndpoint, OpenAIEndpoint> = { chat: 'chat', completions: 'completions', embeddings: 'embeddings' };

/**
 * The head of a stream: the request's own headers with the stream's added in place. A spread of the two into a new
 * object took ~3 µs per stream (a generic clone of an object whose shape varies with the limits that matched).
 * The head goes out as soon as the relay starts, so the request's headers are not needed in another shape after it.
 */
function streamHead(respHeaders: Record<string, string | number>, timing: string): Record<string, string | number> {
  respHeaders['content-type'] = 'text/event-stream; charset=utf-8';
  respHeaders['cache-control'] = 'no-cache';
  respHeaders['x-accel-buffering'] = 'no';
  respHeaders['server-timing'] = timing;
  return respHeaders;
}

/** Endpoints whose bodies carry `finish_reason`, with the values OpenAI allows there. */
const FINISH_REASONS: Partial<Record<Endpoint, FinishReasonSet>> = { chat: 'chat', completions: 'completions' };

/**
 * Ends an attempt that threw. A client that went away or a backend 4xx (the caller's mistake) says nothing about
 * the backend's health, so only real upstream failures count against it.
 */
function endFailed(tracker: AttemptTracker, err: unknown): void {
  if (err instanceof UpstreamFailure && err.backendAtFault) tracker.end({ ok: false, failure: err.kind === 'bad_response' || err.kind === 'aborted' || err.kind === 'shutdown' ? 'status_5xx' : err.kind });
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
  // Literals of one shape (no spread): the object stays monomorphic for every reader of ctx.usage. Every family's
  // usage comes through here: counts no engine could report are not believed (usage-tap.ts MAX_TOKEN_COUNT).
  ctx.usage = usage && believableUsage(usage)
    ? { promptTokens: usage.promptTokens, completionTokens: usage.completionTokens, cachedTokens: usage.cachedTokens, source: 'backend' }
    : { promptTokens: ctx.promptTokenEstimate, completionTokens: fallbackCompletion, cachedTokens: 0, source: 'estimated' };
}

type Timeouts = Exchange['cfg']['server']['timeouts'];

/** Streams, and requests whose request deadline is not the shorter, end at timeouts.total; the others at timeouts.request. */
function requestBoundByTotal(ctx: RequestCtx, t: Timeouts): boolean {
  return ctx.stream || t.request >= t.total;
}

/** When the request's whole deadline runs out (monotonic ms): no attempt begun after it could answer in time. */
export function requestEndMs(ctx: RequestCtx, t: Timeouts): number {
  return ctx.startMs + (requestBoundByTotal(ctx, t) ? t.total : t.request);
}

export interface AttemptRunnerDeps {
  readonly router: Router;
  readonly pools: BackendPools;
  readonly clock: Clock;
  readonly telemetry: Telemetry;
}

/**
 * One attempt of a request on one backend: send, then relay the stream or the body to the client, keeping the
 * backend's state (tracker), the attempt span and the request's usage up to date. Throws an UpstreamFailure while
 * nothing has reached the client (the caller may try another backend), or the client's error.
 */
export function createAttemptRunner(deps: AttemptRunnerDeps): (x: Exchange, backend: CompiledBackend) => Promise<void> {
  const { router, pools, clock, telemetry } = deps;
  return async function tryBackend(x: Exchange, backend: CompiledBackend): Promise<void> {
    const { p, cfg, ctx, out, client, respHeaders, span, heartbeat } = x;
    const call: FamilyCall | null = p.fam ? p.fam.call(backend) : null;
    const { body, convertBase64 } = call ? { body: call.body, convertBase64: false } : bodyFor(p, backend);
    const t = cfg.server.timeouts;
    const tracker = router.begin(backend, p.route);
    ctx.attempts++;
    ctx.backendId = backend.id;
    ctx.upstreamModel = backend.model;
    const attemptStart = clock.now();
    // The id, as the request and routing spans name the backend: the URL may carry credentials (sent as HTTP Basic).
    const attemptSpan = span?.startAttempt(backend.id, ctx.attempts, backend.model) ?? null;
    const headers: Record<string, string> = { 'x-request-id': ctx.id };
    const traceparent = telemetry.traceparentFor(ctx, attemptSpan);
    if (traceparent) headers.traceparent = traceparent;
    if (ctx.tracestate) headers.tracestate = ctx.tracestate;
    let open: OpenAttempt;
    try {
      open = await openAttempt(pools, {
        backend,
        path: call ? call.path : backend.paths[PATH_OF[p.endpoint as OpenAIEndpoint]],
        method: call?.method,
        contentType: call?.contentType,
        body,
        stream: ctx.stream,
        // A retry is blamed for the end deadline only if it was given at least the first-byte deadline to answer.
        deadlines: requestBoundByTotal(ctx, t)
          ? { firstByteMs: t.first_byte, idleMs: t.idle, endMs: ctx.startMs + t.total, endName: 'total', endLimitMs: t.total, endBlameAfterMs: ctx.attempts > 1 ? t.first_byte : 0 }
          : { firstByteMs: t.first_byte, idleMs: t.idle, endMs: ctx.startMs + t.request, endName: 'request', endLimitMs: t.request, endBlameAfterMs: ctx.attempts > 1 ? t.first_byte : 0 },
        headers,
        now: clock.now,
        client,
      });
    } catch (err) {
      const clientFault = p.fam?.clientFailure?.() ?? null;
      const e = clientFault ?? (call?.clientParam ? inClientTerms(err, call.clientParam) : err);
      if (clientFault) tracker.end({ ok: true });
      else endFailed(tracker, err);
      attemptSpan?.end(failureType(e), statusOf(e));
      throw e;
    }

    if (ctx.stream && open.contentType !== undefined && SSE_TYPE.test(open.contentType)) {
      let result;
      try {
        const headers = streamHead(respHeaders, serverTiming(ctx, attemptStart));
        result = call?.events ? await relayEvents(open, out, {
          headers,
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
          headers,
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
      } else if (result.end === 'shutdown') {
        // Cut by this gateway's drain deadline: a gateway-side end (503), charged what was relayed; not the backend's fault.
        ctx.outcome = 'upstream_error';
        ctx.status = 503;
        ctx.errorCode = 'shutting_down';
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

    if (ctx.stream) {
      // The client reads only SSE: a JSON body relayed under its stream request is an empty stream to an SDK, no text
      // and no error. Nothing has reached the client, so another backend may still stream it.
      const err = notAStream(backend.label, open.status, open.contentType);
      open.abort('client');
      endFailed(tracker, err);
      attemptSpan?.end(failureType(err), open.status);
      throw err;
    }

    let data: Buffer;
    try {
      const read = readBody(open, { limit: cfg.server.response_limit, finishReasons: FINISH_REASONS[p.endpoint] ?? null, anyContent: call?.anyContent === true });
      data = read instanceof Promise ? await read : read;
    } catch (err) {
      endFailed(tracker, err);
      attemptSpan?.end(failureType(err), open.status);
      throw err;
    }
    attemptSpan?.end(null, open.status);
    ctx.upstreamMs = clock.now() - attemptStart;
    const found = call?.usage ? call.usage(data) : findUsage(data);
    // No believable count from the backend: the answer's text is estimated, never charged as nothing.
    setUsage(ctx, found, found !== null && believableUsage(found) ? 0 : estimateOutputTokens(data));
    if (call?.mapBody) data = call.mapBody(data);
    const u = ctx.usage!;
    tracker.end({ ok: true, promptTokens: u.promptTokens, cachedTokens: u.cachedTokens, completionTokens: u.completionTokens });
    // Whatever the config says a backend can do, a float array answered to a base64 request is converted: an SDK
    // would otherwise decode the JSON text as vectors.
    if (convertBase64 || (p.wantBase64 && hasFloatEmbeddings(data))) {
      try {
        data = floatsToBase64(data);
      } catch {
        throw new GatewayError('upstream_error', `Backend ${backend.label} returned an embeddings response that is not valid JSON.`);
      }
    }
    const now = clock.now();
    ctx.firstByteMs = now;
    respHeaders['server-timing'] = serverTiming(ctx, now);
    ctx.status = open.status;
    const ct = call?.anyContent ? open.contentType : undefined;
    writeJson(out, open.status, data, respHeaders, typeof ct === 'string' ? ct : 'application/json');
  };
}

function notAStream(label: string, status: number, contentType: string | undefined): UpstreamFailure {
  const what = contentType === undefined ? 'no content type' : JSON.stringify(contentType.slice(0, 100));
  return new UpstreamFailure(
    'bad_response',
    new GatewayError('upstream_error', `Backend ${label} answered a streamed request with HTTP ${status} and ${what}, not an event stream.`, { wireCode: 'upstream_invalid_response' }),
  );
}

/** A backend's refusal (a 4xx, or a failure another backend may retry) with its `param` as the client named the field (see FamilyCall.clientParam). */
function inClientTerms(err: unknown, clientParam: (param: string) => string): unknown {
  const ce = err instanceof UpstreamFailure ? err.clientError : isGatewayError(err) ? err : null;
  if (ce === null || ce.param === null) return err;
  const param = clientParam(ce.param);
  if (param === ce.param) return err;
  const mapped = new GatewayError(ce.code, ce.message, { status: ce.status, type: ce.type, param, wireCode: ce.wireCode, headers: ce.headers, cause: ce.cause });
  return err instanceof UpstreamFailure ? new UpstreamFailure(err.kind, mapped, err.backendAtFault, err.retryable) : mapped;
}
