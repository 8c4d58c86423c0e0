import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono, type Context } from 'hono';
import { anthropicCredential, anthropicModel, anthropicModelList, errorAnswerFor, FAMILY_ROUTES, isAnthropicRoute, listModels, wantsAnthropic, retrieveModel, writeError, type LiveConfig, type Pipeline } from '../api/index.js';
import { canUseModel, requireAdmin, type KeyRegistry } from '../auth/index.js';
import { acceptRequestId, ANONYMOUS, createRequestCtx, GatewayError, isGatewayError, type Clock, type Endpoint, type Principal } from '../core/index.js';
import type { Telemetry } from '../telemetry/index.js';
import type { UsageWriter } from '../usage/index.js';
import { adminAudit, adminLimits, adminUsage, adminUsageExport } from './admin.js';
import { auditAdminCalls, noteAdminCaller } from './admin-audit.js';
import { refuseWhileDraining } from './draining.js';
import { requestIdMiddleware } from './request-id.js';
import { REQUEST_ID, type Tagged } from './request-tag.js';
import { refuseOtherMethods } from './methods.js';
import { registerKeyRoutes } from './admin-keys.js';
import { registerConsoleRoutes, type ConsoleDeps } from './console-routes.js';

export interface AppDeps {
  pipeline: Pipeline;
  clock: Clock;
  telemetry: Telemetry;
  usage: UsageWriter | null;
  /** Gateway-managed API keys, when the `keys` section is on. */
  keys?: KeyRegistry | null;
  /** The web console's data sources (the page and `/console/api/*`); absent in embeddings that do not serve it. */
  console?: Omit<ConsoleDeps, 'admin'>;
  live(): LiveConfig;
  ready(): { ready: boolean; reason?: string };
  /** Healthy and total backends of a model (by public name or alias); null for an unknown model. */
  modelHealth(name: string): { model: string; healthy: number; backends: number } | null;
  draining(): boolean;
  inflight: { count: number };
}

type Env = { Bindings: HttpBindings };

/**
 * An error in the envelope the caller reads: Anthropic's on the Messages routes and for Anthropic's SDK listing models
 * (it sends `anthropic-version`), OpenAI's elsewhere.
 */
function jsonError(err: unknown, c: Context<Env>, anthropic = false): Response {
  const path = anthropic ? '/v1/messages' : c.req.path;
  // Anthropic's error body names the request: its id is made here (the request-id middleware keeps a header set).
  const id = isAnthropicRoute(path) ? acceptRequestId(c.req.header('x-request-id')) : null;
  const { status, body, headers } = errorAnswerFor(path, err, id);
  return new Response(body, { status, headers: { ...headers, ...(id ? { 'x-request-id': id } : {}), 'content-type': 'application/json' } });
}

const JSON_HEADERS = { 'content-type': 'application/json' } as const;

const DONE = Promise.resolve();

/**
 * The client's trace context is sent on to the backend as it came when tracing is off, so only what W3C Trace Context
 * allows is taken: a traceparent of the standard shape (version ff and all-zero ids are invalid), and a tracestate of
 * printable ASCII within the 512 characters a platform must propagate, only beside such a traceparent. Anything else
 * (a 30 KB header, obs-text bytes) would reach every backend from any caller.
 */
// A version after 00 may append fields after its flags (W3C: parse what version 00 defines, keep the header).
const TRACE_IDS = '-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}';
const TRACEPARENT = new RegExp(`^(?:00${TRACE_IDS}|(?!00|ff)[0-9a-f]{2}${TRACE_IDS}(?:-[\\x21-\\x7e]{0,200})?)$`);
const TRACESTATE = /^[\x20-\x7e]{1,512}$/;

/** The OpenAI endpoints without Hono: node:http in, node:http out (the hot path skips the framework). */
export function createOpenAIHandler(deps: AppDeps) {
  const { inflight } = deps;
  // The pipeline never rejects; the count is released on either outcome all the same, so a bug cannot wedge a drain.
  const release = () => {
    inflight.count--;
  };
  const start = (endpoint: Endpoint, incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> | null => {
    const ctx = createRequestCtx(acceptRequestId(incoming.headers['x-request-id'] as string | undefined), deps.clock.now(), deps.clock.wallMs());
    (incoming as Tagged)[REQUEST_ID] = ctx.id;
    if (deps.draining()) {
      refuseWhileDraining(deps, endpoint, ctx, outgoing);
      return null;
    }
    const tp = incoming.headers.traceparent;
    if (typeof tp === 'string' && TRACEPARENT.test(tp)) {
      ctx.traceparent = tp;
      const ts = incoming.headers.tracestate;
      if (typeof ts === 'string' && TRACESTATE.test(ts)) ctx.tracestate = ts;
    }
    const live = deps.live();
    inflight.count++;
    return deps.pipeline.handle(endpoint, live, ctx, incoming, outgoing);
  };
  /** What a request that failed outside the pipeline (a bug) gets: the envelope if nothing was sent, else a cut. */
  const failed = (outgoing: ServerResponse, err: unknown) => {
    if (!outgoing.headersSent) writeError(outgoing, err);
    else outgoing.destroy();
  };
  return {
    /**
     * For node:http's request event: one promise reaction per request (the count's release and the fallback answer
     * together), where a returned promise needed a second for its caller's error handling.
     */
    serve(endpoint: Endpoint, incoming: IncomingMessage, outgoing: ServerResponse): void {
      let handled: Promise<void> | null;
      try {
        handled = start(endpoint, incoming, outgoing);
      } catch (err) {
        failed(outgoing, err);
        return;
      }
      handled?.then(release, (err: unknown) => {
        release();
        failed(outgoing, err);
      });
    },
    /** For a framework that awaits the request (Hono's routes); a synchronous throw still arrives as a rejection. */
    handle(endpoint: Endpoint, incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
      try {
        const handled = start(endpoint, incoming, outgoing);
        if (handled === null) return DONE;
        handled.then(release, release);
        return handled;
      } catch (err) {
        return Promise.reject(err);
      }
    },
  };
}

/**
 * The Hono app: routing and the fixed order of concerns. The OpenAI endpoints write straight to Node's response
 * (the relay needs the socket's backpressure and must never sleep before the first chunk), then tell
 * @hono/node-server that the response was already sent. Their authentication runs inside the pipeline so that a
 * refused request still gets its usage row.
 */
export function createApp(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.use(requestIdMiddleware);
  app.use('/admin/*', auditAdminCalls(deps));
  // The console's data and the metrics need the admin scope too: who tried them is as much the audit's business.
  app.use('/console/api/*', auditAdminCalls(deps));
  app.use('/metrics', auditAdminCalls(deps, true));

  /** The caller of a non-pipeline route; open routes (health probes by default) need no token. */
  const principalOf = async (c: Context<Env>): Promise<Principal> => {
    const auth = deps.live().authenticator;
    if (!auth || auth.isOpenRoute(c.req.path)) return ANONYMOUS;
    // Anthropic's SDK lists models with its own credential header, as it calls the Messages routes.
    const headers = c.env.incoming.headers;
    // Node's own header, as the API routes read it: the Web Headers object joins repeated fields with ", ", so a
    // request with two Authorization fields was one credential to the API routes and a malformed one here.
    return auth.authenticate(wantsAnthropic(headers) ? anthropicCredential(headers) : headers.authorization);
  };
  const adminOf = async (c: Context<Env>): Promise<void> => {
    const auth = deps.live().authenticator;
    if (!auth || auth.isOpenRoute(c.req.path)) return;
    const principal = await auth.authenticate(c.env.incoming.headers.authorization);
    noteAdminCaller(c.req.raw, principal);
    requireAdmin(principal);
  };

  const direct = createOpenAIHandler(deps);
  const openai = (endpoint: Endpoint) => async (c: Context<Env>) => {
    await direct.handle(endpoint, c.env.incoming, c.env.outgoing);
    return RESPONSE_ALREADY_SENT;
  };

  app.post('/v1/chat/completions', openai('chat'));
  app.post('/v1/completions', openai('completions'));
  app.post('/v1/embeddings', openai('embeddings'));
  for (const p of ['/v1/chat/completions', '/v1/completions', '/v1/embeddings']) refuseOtherMethods(app, p, 'POST');
  /**
   * A family reads which operation it serves from the request's URL (count_tokens or not, translation or
   * transcription, an id or a create). The router matched a normalised path (percent-decoded, dot segments resolved,
   * absolute-form reduced), so the family is given that same path: no other spelling of it reaches a family under one
   * route and is read there as another. Most requests already match and pay one comparison.
   */
  const family = (endpoint: Endpoint) => {
    const serve = openai(endpoint);
    return (c: Context<Env>) => {
      const incoming = c.env.incoming;
      const url = incoming.url ?? '';
      const path = c.req.path;
      if (url !== path && !(url.startsWith(path) && url.charCodeAt(path.length) === 63 /* ? */)) {
        const q = url.indexOf('?');
        incoming.url = q < 0 ? path : path + url.slice(q);
      }
      return serve(c);
    };
  };
  // The other endpoint families (Responses, Messages, rerank, score, tokenize, audio): the same pipeline.
  const familyMethods = new Map<string, string[]>();
  for (const r of FAMILY_ROUTES) {
    app.on(r.method, r.path, family(r.endpoint));
    familyMethods.set(r.path, [...(familyMethods.get(r.path) ?? []), r.method]);
  }
  for (const [p, methods] of familyMethods) refuseOtherMethods(app, p, methods.join(', '));
  // Any other path below /v1/responses/ names a response that cannot exist: the family answers OpenAI's 404 for an
  // unknown response (after authentication, with its usage row), never a create.
  app.all('/v1/responses/*', family('responses'));

  app.get('/v1/models', async (c) => {
    const principal = await principalOf(c);
    const { cfg, authenticator } = deps.live();
    const visible = authenticator ? (names: string | readonly string[]) => canUseModel(principal, names) : undefined;
    if (wantsAnthropic(c.env.incoming.headers)) return c.body(anthropicModelList(cfg, visible ?? (() => true), c.req.query()), 200, JSON_HEADERS);
    return c.body(listModels(cfg, visible), 200, JSON_HEADERS);
  });
  app.get('/v1/models/:id{.+}', async (c) => {
    const principal = await principalOf(c);
    const { cfg, authenticator } = deps.live();
    const id = c.req.param('id');
    const visible = authenticator ? (names: string | readonly string[]) => canUseModel(principal, names) : undefined;
    if (wantsAnthropic(c.env.incoming.headers)) return c.body(anthropicModel(cfg, id, visible ?? (() => true)), 200, JSON_HEADERS);
    return c.body(retrieveModel(cfg, id, visible), 200, JSON_HEADERS);
  });

  app.get('/admin/usage', async (c) => {
    await adminOf(c);
    return adminUsage(c, deps.usage, deps.clock);
  });
  app.get('/admin/usage/export', async (c) => {
    await adminOf(c);
    return adminUsageExport(c, deps.usage, deps.clock);
  });
  app.get('/admin/audit', async (c) => {
    await adminOf(c);
    return adminAudit(c, deps.usage, deps.clock);
  });
  app.get('/admin/limits', async (c) => {
    await adminOf(c);
    return adminLimits(c, deps.live().limiter);
  });

  app.get('/metrics', async (c) => {
    await adminOf(c);
    if (!deps.live().cfg.telemetry.metrics) throw new GatewayError('not_found', 'Metrics are disabled (telemetry.metrics: false).', { wireCode: 'unknown_url' });
    const { contentType, body } = await deps.telemetry.renderMetrics();
    return c.body(body, 200, { 'content-type': contentType });
  });

  app.get('/healthz', async (c) => {
    await principalOf(c);
    return c.json({ status: 'ok' });
  });
  app.get('/readyz', async (c) => {
    await principalOf(c);
    const name = c.req.query('model');
    if (name !== undefined) {
      // Per-model health, for dashboards and alerts: never what takes an instance out of a load balancer.
      const h = deps.modelHealth(name);
      if (!h) throw new GatewayError('model_not_found', `The model ${JSON.stringify(name.slice(0, 200))} does not exist.`, { param: 'model', wireCode: 'model_not_found' });
      const ok = h.healthy > 0;
      return c.json({ status: ok ? 'ready' : 'not_ready', model: h.model, healthy_backends: h.healthy, backends: h.backends }, ok ? 200 : 503);
    }
    const r = deps.ready();
    return c.json(r.ready ? { status: 'ready' } : { status: 'not_ready', reason: r.reason }, r.ready ? 200 : 503);
  });

  // The read-only routes refuse other methods as the API routes do: 405 naming GET, not an unknown route.
  for (const p of ['/v1/models', '/v1/models/:id{.+}', '/admin/usage', '/admin/usage/export', '/admin/audit', '/admin/limits', '/metrics', '/healthz', '/readyz']) {
    refuseOtherMethods(app, p, 'GET');
  }

  registerKeyRoutes(app, { admin: adminOf, keys: deps.keys ?? null, clock: deps.clock });
  if (deps.console) registerConsoleRoutes(app, { ...deps.console, admin: adminOf });

  app.notFound((c) => jsonError(new GatewayError('not_found', `Unknown route ${c.req.method} ${c.req.path}.`, { wireCode: 'unknown_url' }), c));
  app.onError((err, c) => {
    // A 500 the operator can trace: the client gets the envelope only, the log gets the stack.
    if (!isGatewayError(err)) deps.telemetry.logger.error({ event: 'unexpected_error', method: c.req.method, path: c.req.path, err }, 'unexpected error on a route');
    return jsonError(err, c, c.req.path.startsWith('/v1/models') && wantsAnthropic(c.env.incoming.headers));
  });
  return app;
}
