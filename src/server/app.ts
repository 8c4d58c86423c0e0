import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono, type Context } from 'hono';
import { listModels, retrieveModel, writeError, type Pipeline } from '../api/index.js';
import type { RuntimeConfig } from '../config/index.js';
import type { Telemetry } from '../telemetry/index.js';
import { acceptRequestId, createRequestCtx, errorEnvelope, GatewayError, type Clock, type Endpoint } from '../core/index.js';

export interface AppDeps {
  pipeline: Pipeline;
  clock: Clock;
  telemetry: Telemetry;
  config(): RuntimeConfig;
  ready(): { ready: boolean; reason?: string };
  draining(): boolean;
  inflight: { count: number };
}

type Env = { Bindings: HttpBindings };

function jsonError(c: Context<Env>, err: unknown): Response {
  const { status, body, headers } = errorEnvelope(err);
  return new Response(body, { status, headers: { ...headers, 'content-type': 'application/json' } });
}

/**
 * The Hono app: routing and the fixed order of concerns. The OpenAI endpoints write straight to Node's response
 * (the relay needs the socket's backpressure and must never sleep before the first chunk), then tell
 * @hono/node-server that the response was already sent.
 */
export function createApp(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();

  const openai = (endpoint: Endpoint) => async (c: Context<Env>) => {
    const { incoming, outgoing } = c.env;
    const ctx = createRequestCtx(acceptRequestId(incoming.headers['x-request-id'] as string | undefined), deps.clock.now(), deps.clock.wallMs());
    if (deps.draining()) {
      writeError(outgoing, new GatewayError('shutting_down', 'The gateway is shutting down; retry on another instance.'), { connection: 'close' });
      return RESPONSE_ALREADY_SENT;
    }
    const tp = incoming.headers.traceparent;
    if (typeof tp === 'string') ctx.traceparent = tp;
    const ts = incoming.headers.tracestate;
    if (typeof ts === 'string') ctx.tracestate = ts;
    deps.inflight.count++;
    try {
      await deps.pipeline.handle(endpoint, deps.config(), ctx, incoming, outgoing);
    } finally {
      deps.inflight.count--;
    }
    return RESPONSE_ALREADY_SENT;
  };

  const methodNotAllowed = (allow: string) => (c: Context<Env>) =>
    c.body(
      JSON.stringify({ error: { message: `Method ${c.req.method} is not allowed here; use ${allow}.`, type: 'invalid_request_error', param: null, code: 'method_not_allowed' } }),
      405,
      { 'content-type': 'application/json', allow },
    );

  app.post('/v1/chat/completions', openai('chat'));
  app.post('/v1/completions', openai('completions'));
  app.post('/v1/embeddings', openai('embeddings'));
  for (const p of ['/v1/chat/completions', '/v1/completions', '/v1/embeddings']) app.all(p, methodNotAllowed('POST'));

  app.get('/v1/models', (c) => c.body(listModels(deps.config()), 200, { 'content-type': 'application/json' }));
  app.get('/v1/models/:id{.+}', (c) => c.body(retrieveModel(deps.config(), c.req.param('id')), 200, { 'content-type': 'application/json' }));

  app.get('/metrics', async (c) => {
    if (!deps.config().telemetry.metrics) throw new GatewayError('not_found', 'Metrics are disabled (telemetry.metrics: false).', { wireCode: 'unknown_url' });
    const { contentType, body } = await deps.telemetry.renderMetrics();
    return c.body(body, 200, { 'content-type': contentType });
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    const r = deps.ready();
    return c.json(r.ready ? { status: 'ready' } : { status: 'not_ready', reason: r.reason }, r.ready ? 200 : 503);
  });

  app.notFound((c) => jsonError(c, new GatewayError('not_found', `Unknown route ${c.req.method} ${c.req.path}.`, { wireCode: 'unknown_url' })));
  app.onError((err, c) => jsonError(c, err));
  return app;
}
