import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError, inviteBody, isGatewayError, markAnsweredMidUpload, type Clock, type Endpoint, type RequestCtx } from '../core/index.js';
import type { CompiledBackend, CompiledModel, RuntimeConfig } from '../config/index.js';
import { authorize, authorizeEndpoint, permits, refusedCallerOf, type Authenticator } from '../auth/index.js';
import { refusalKindOf, type Limiter, type Reservation } from '../limits/index.js';
import { admit, fallbackAdmission, perChoiceOf } from './admission.js';
import type { RetryBudget, Router } from '../routing/index.js';
import { rowFromCtx, type OutputEstimator, type TokenCounter, type UsageWriter } from '../usage/index.js';
import type { Telemetry } from '../telemetry/index.js';
import { BackendPools, Heartbeat, shutdownFailure, UpstreamFailure, type ClientLink } from '../upstream/index.js';
import { bufferedBody, checkContentEncoding, parseJsonBody, readRequestBody } from './read-body.js';
import { writeError } from './respond.js';
import { MAX_MODEL_NAME, modelNamed, validateRequest, type OpenAIEndpoint } from './wire.js';
import type { FamilyRequest } from './family.js';
import { createFamilies, familyCandidates } from './families.js';
import { ResponseStore } from './responses/store.js';
import { createAttemptRunner, requestEndMs } from './attempt-run.js';
import { generates, modelNameTooLong, modelNotFound, NO_BODY, prepare, prepareFamily, type Exchange, type Prepared } from './prepare.js';

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
  /** Where stored Responses live (shared with the fleet's other processes by the server); default: this pipeline's own. */
  readonly responses?: ResponseStore;
}

/** One consistent config snapshot: a request runs start to end on the snapshot it began with. */
export interface LiveConfig {
  readonly cfg: RuntimeConfig;
  /** Null when `auth: none`. */
  readonly authenticator: Authenticator | null;
  /** Null when no limits or quotas are configured. */
  readonly limiter: Limiter | null;
}


/** Why a request whose link says gone stops before its next attempt: its client left, or the drain deadline passed. */
const CLIENT_GONE = (client: ClientLink) =>
  client.shutdown ? shutdownFailure() : new UpstreamFailure('aborted', new GatewayError('internal', 'The client closed the request.'));

/**
 * The one pipeline every OpenAI endpoint goes through: parse once, validate what we route on, resolve the model,
 * plan candidates, try them in order (and then fallback models) until one answers, relay its bytes unchanged.
 * Invariant: never retry once a byte has reached the client.
 */
export function createPipeline(deps: PipelineDeps) {
  const { router, retryBudget, clock, telemetry } = deps;
  const tryBackend = createAttemptRunner(deps);
  const FAMILIES = createFamilies(deps.responses ?? new ResponseStore());
  /** The links of the requests in flight, which a drain past its deadline cuts (shutdown); one add and delete each. */
  const inFlight = new Set<ClientLink>();

  /**
   * Any attempt after a failed one (another backend, or a fallback model) spends the fleet-wide retry budget; when it
   * is spent the request ends with its last failure, so a failing fleet is not hit (retries + 1) times per request.
   */
  function mayRetry(m: CompiledModel): boolean {
    if (retryBudget.tryWithdraw()) return true;
    telemetry.recordRetryDenied(m.name);
    return false;
  }

  async function route(x: Exchange, model: CompiledModel): Promise<void> {
    const { p, cfg, client, span } = x;
    let lastError: GatewayError | null = null;
    let lastKind: string | null = null;
    const chain: CompiledModel[] = [model];
    // Indexed loops: in an async function an array iterator is a heap object per loop (it lives across awaits), and
    // these two were ~40% of route's own time in the CPU profile.
    for (let f = 0; f < model.fallback.length; f++) {
      const fb = cfg.models.get(model.fallback[f]!);
      // A fallback answers for the caller only where the caller may call it directly: never a way around scopes.
      if (fb && !chain.includes(fb) && (!x.authorizes || permits(x.ctx.principal, fb.name, p.endpoint))) chain.push(fb);
    }
    retryBudget.deposit();
    // Past the request's deadline no attempt can answer: another backend (or fallback model) would be sent a request
    // only to have it cut at once and be blamed for the timeout, and the client would read that backend's name.
    const endMs = requestEndMs(x.ctx, cfg.server.timeouts);
    for (let c = 0; c < chain.length; c++) {
      const m = chain[c]!;
      if (m !== model) {
        if (lastKind !== null && (clock.now() >= endMs || !mayRetry(model))) break;
        // The fallback's own limits must admit the request too; a fallback they refuse is skipped, not a way around them.
        if (x.admitFallback && !(await x.admitFallback(m))) continue;
        telemetry.recordFallback(model.name, m.name);
      }
      let candidates;
      const routing = span?.startRouting() ?? null;
      try {
        const planned = router.plan(m.pool, p.route);
        if (Array.isArray(planned)) candidates = planned;
        else {
          // Queued (every backend saturated): a client that leaves takes its request out of the queue at once, rather
          // than holding a place (and the queue depth) until its turn or max_wait came. No attempt runs meanwhile, so
          // the link's one callback is free.
          client.onGone = () => router.abandon(p.route);
          try {
            candidates = await planned;
          } finally {
            client.onGone = null;
          }
        }
        if (p.fam) candidates = familyCandidates(p.fam, candidates, m, p.endpoint);
        // The plan's reservation is given back by handle()'s end, as for every request that does not begin an attempt.
        if (client.gone) throw CLIENT_GONE(client);
        routing?.end(candidates[0]?.id ?? null, candidates.length);
      } catch (err) {
        routing?.end(null);
        if (client.gone) throw CLIENT_GONE(client);
        if (isGatewayError(err) && err.code === 'no_healthy_backend') {
          lastError = err;
          continue;
        }
        throw err;
      }
      const limit = Math.min(candidates.length, m.retries + 1);
      let denied = false;
      for (let i = 0; i < limit; i++) {
        if (client.gone) throw CLIENT_GONE(client);
        if (i > 0) {
          if (clock.now() >= endMs || !mayRetry(m)) {
            denied = true;
            break;
          }
          telemetry.recordRetry(m.name, lastKind ?? 'unknown');
        }
        try {
          // The cap's fallback is a frame of its own, taken only by requests the gateway capped.
          await (p.outputCap === null ? tryBackend(x, candidates[i] as CompiledBackend) : tryBackendUncappedIfNeeded(x, candidates[i] as CompiledBackend));
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

  /**
   * The gateway's output cap must never make a backend refuse what it would serve: a prompt near the context length
   * plus the cap can pass it (vLLM: "maximum context length"). The same backend is then asked without the cap, which
   * it bounds by the context left, less than the cap reserved, so the limit still holds.
   */
  async function tryBackendUncappedIfNeeded(x: Exchange, backend: CompiledBackend): Promise<void> {
    try {
      await tryBackend(x, backend);
    } catch (err) {
      const p = x.p;
      if (p.outputCap === null || !isGatewayError(err) || err.wireCode !== 'context_length_exceeded' || (p.fam && !p.fam.replayable())) throw err;
      p.outputCap = null;
      p.fam?.capOutput?.(null);
      await tryBackend(x, backend);
    }
  }

  /**
   * What an uncapped request generated teaches the output estimate (per choice: n choices are not one answer n times
   * longer). A client's own cap says nothing about natural lengths, and a caller sending `max_tokens: 1` must not
   * shrink what everyone else is reserved and capped at; an answer that reached the gateway's cap asks for more.
   */
  function observeOutput(model: string, p: Prepared, completionTokens: number): void {
    const perChoice = Math.ceil(completionTokens / p.choices);
    deps.outputs.observe(model, p.outputCap !== null && perChoice >= p.outputCap ? p.outputCap * 2 : perChoice);
  }

  /** Handles one request end to end; never throws (errors are written to the client). */
  async function handle(endpoint: Endpoint, live: LiveConfig, ctx: RequestCtx, incoming: IncomingMessage, out: ServerResponse): Promise<void> {
    const cfg = live.cfg;
    ctx.endpoint = endpoint;
    const respHeaders: Record<string, string | number> = { 'x-request-id': ctx.id };
    const family = FAMILIES.get(endpoint) ?? null;
    if (family?.requestIdHeader) respHeaders[family.requestIdHeader] = ctx.id;
    const span = telemetry.startRequest(ctx);
    const client: ClientLink = { gone: false, shutdown: false, onGone: null };
    inFlight.add(client);
    const onClose = () => {
      // A response finished while the upload still arrives (a protocol refusal answered mid-body) ends the request
      // too: an upload streamed to a backend must not wait for bytes that will never come.
      if (out.writableFinished && incoming.complete) return;
      client.gone = true;
      client.onGone?.();
    };
    out.on('close', onClose);
    /** The request's reservation, extended to each fallback model admitted. */
    let reservation: Reservation | null = null;
    let prepared: Prepared | null = null;
    let heartbeat: Heartbeat | null = null;
    let model: CompiledModel | undefined;
    let fam: FamilyRequest | null = null;
    /** Whether reading the request's body began (a refusal before that closes the connection, see below). */
    let bodyStarted = false;
    try {
      // Authenticate before reading the body: an anonymous caller costs no upload and no parse.
      if (live.authenticator) {
        const who = live.authenticator.authenticate(family ? family.credential(incoming.headers) : incoming.headers.authorization);
        // A cached token comes back synchronously: no extra turn of the microtask queue on the hot path.
        ctx.principal = who instanceof Promise ? await who : who;
        // Refused before the body is read: a key with no grant for the endpoint costs no upload, whatever model it
        // names (its usage row has none: the endpoint, not a model, was refused).
        authorizeEndpoint(ctx.principal, endpoint);
      }
      checkContentEncoding(incoming);
      // A body read that fails (over the limit, cut off) has its own ending: the rest is drained, then cut.
      bodyStarted = true;
      inviteBody(incoming);
      if (family) fam = await family.read(incoming, cfg.server, ctx);
      let raw: Buffer = NO_BODY;
      if (!fam) {
        const limit = cfg.server.body_limit;
        let body = bufferedBody(incoming, limit);
        if (body === null) {
          // One microtask lets the parser finish the read that brought the headers: a body that came with them is
          // then taken whole from the buffer; a later one is read as it arrives.
          await null;
          body = bufferedBody(incoming, limit) ?? (await readRequestBody(incoming, limit));
        }
        raw = body;
      }
      const json = fam ? null : parseJsonBody(raw, cfg.server.max_json_nodes);
      // Named before validation: a body refused for another field still says which model it was for.
      if (!fam) ctx.requestedModel = modelNamed(json);
      const req = fam ? null : validateRequest(endpoint as OpenAIEndpoint, json, cfg.server.max_messages);
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
        const estimate = generates(p) ? deps.outputs.estimate(model.name, p.route.maxTokens).upperBound : 0;
        const who = { subject: ctx.principal.subject, team: ctx.principal.team, model: model.name, key: ctx.principal.keyId ?? null, estimatedTokens: 0 };
        // Shared limits answer synchronously from local leases; only a lease shortfall awaits the authority.
        const r = admit(live.limiter, who, p, model, ctx.promptTokenEstimate, estimate, respHeaders as Record<string, string>);
        reservation = r instanceof Promise ? await r : r;
        const perChoice = perChoiceOf(who, p, ctx.promptTokenEstimate);
        // A request without an output cap under a token limit or quota was reserved the model's observed output
        // length: the backend is told to stop there, else each concurrent request could overrun the limit by all
        // it generates beyond its reservation.
        if (perChoice > 0 && (p.route.maxTokens === null || p.defaultedCap) && reservation.boundsTokens) {
          p.outputCap = perChoice;
          p.fam?.capOutput?.(perChoice);
        }
      }
      heartbeat = ctx.stream && cfg.server.stream_heartbeat > 0 ? new Heartbeat(out, cfg.server.stream_heartbeat) : null;
      // Made only for a model with fallbacks: most requests never try another model and need no closure for it.
      const admitFallback = live.limiter && reservation && model.fallback.length > 0 ? fallbackAdmission(live.limiter, ctx, reservation) : null;
      await route({ p, cfg, ctx, out, client, respHeaders, span, heartbeat, authorizes: live.authenticator !== null, admitFallback }, model);
    } catch (caught) {
      // Once the drain cut the request, a read or attempt ended by it is the gateway's end, never a client's abort.
      const err = client.shutdown && caught instanceof UpstreamFailure && caught.kind === 'aborted' ? shutdownFailure() : caught;
      if (err instanceof UpstreamFailure && err.kind === 'aborted') {
        ctx.outcome = 'client_abort';
        ctx.status = 499;
        ctx.errorCode = 'client_closed_request';
        // A backend had the prompt (and prefilled it) when the client of a non-streamed request left: that much is
        // used and charged, else leaving before the answer would make any prompt free against limits and quotas.
        if (ctx.usage === null && ctx.attempts > 0) ctx.usage = { promptTokens: ctx.promptTokenEstimate, completionTokens: 0, cachedTokens: 0, source: 'estimated' };
      } else {
        // An answer the request made too large (the backend did all the work) is charged as an abandoned one is.
        if (err instanceof UpstreamFailure && !err.backendAtFault && ctx.usage === null && ctx.attempts > 0) {
          ctx.usage = { promptTokens: ctx.promptTokenEstimate, completionTokens: 0, cachedTokens: 0, source: 'estimated' };
        }
        const e = err instanceof UpstreamFailure ? err.clientError : err;
        // A revoked or expired key's own secret: the refusal is put down to that key, not to anonymous.
        ctx.principal = refusedCallerOf(e) ?? ctx.principal;
        // Refused before its body arrived (auth, an unknown route's model): the connection is closed after the answer,
        // or Node would wait for the rest of the upload and a slow one would get a second answer (408) on it.
        if (!bodyStarted && !incoming.complete) respHeaders.connection = 'close';
        else if (!incoming.complete) markAnsweredMidUpload(incoming);
        ctx.status = (family ? family.writeError : writeError)(out, e, respHeaders as Record<string, string>);
        ctx.errorCode = isGatewayError(e) ? (e.wireCode ?? e.code) : 'internal';
        ctx.outcome =
          ctx.status === 401 || ctx.status === 403 ? 'unauthorized' : ctx.status === 429 ? 'rate_limited' : ctx.status >= 500 ? 'upstream_error' : 'client_error';
        const refused = refusalKindOf(e);
        if (refused) telemetry.recordRateLimited(refused);
        // A JSON line like every other, with the stack: a collector parsing the log must not meet a plain-text warning.
        if (!isGatewayError(e)) telemetry.logger.error({ event: 'unexpected_error', request_id: ctx.id, err: e }, 'unexpected error in a request');
      }
    } finally {
      heartbeat?.stop();
      inFlight.delete(client);
      out.removeListener('close', onClose);
      // A plan reserves its first choice until an attempt begins there; a request refused or abandoned in between (a
      // family no backend of the model serves, a client gone, a retry denied) gives it back, or the backend would
      // show it in flight until the reservation expires. A no-op once an attempt took it.
      if (prepared) router.abandon(prepared.route);
      fam?.dispose?.();
      ctx.endMs = clock.now();
      const u = ctx.usage;
      // Settle with what was really used: the backend's count, the partial count of an aborted stream, or
      // nothing when no backend produced tokens (the request still counts against requests per minute).
      const used = u ? u.promptTokens + u.completionTokens : 0;
      reservation?.settle(used);
      if (u && u.source === 'backend' && model && prepared) {
        deps.tokens.observePrompt(model.name, prepared.prompt, u.promptTokens);
        if (ctx.outcome === 'success' && generates(prepared) && prepared.route.maxTokens === null) observeOutput(model.name, prepared, u.completionTokens);
      }
      telemetry.endRequest(ctx, span);
      deps.usage?.record(rowFromCtx(ctx, ctx.endMs));
      deps.onEnd?.(ctx);
    }
  }

  /**
   * Ends every request in flight as the gateway's own failure (the drain deadline passed): a stream gets a final
   * error event and a clean end, a request whose answer has not started gets a 503, and each is logged and charged
   * as cut by the gateway, not as a client's abort. Returns how many were cut; each ends on a later turn.
   */
  function shutdown(): number {
    for (const client of inFlight) {
      client.shutdown = true;
      client.gone = true;
      client.onGone?.();
    }
    return inFlight.size;
  }

  return { handle, shutdown };
}

export type Pipeline = ReturnType<typeof createPipeline>;
