import type { HttpBindings } from '@hono/node-server';
import type { Context, Hono } from 'hono';
import type { RuntimeConfig } from '../config/index.js';
import { configView, prefixHitRate, type Asset, type ConfigStatus, type FleetSnapshot, type LiveStats } from '../console/index.js';
import { GatewayError, redactUrl, type Clock } from '../core/index.js';
import { refuseOtherMethods } from './methods.js';
import type { Router } from '../routing/index.js';

type Env = { Bindings: HttpBindings };
type Ctx = Context<Env>;

export interface ConsoleDeps {
  /** Throws 401/403 unless the caller holds the `admin` scope. */
  admin(c: Ctx): Promise<void>;
  assets: Map<string, Asset>;
  live: LiveStats;
  router: Router;
  config(): RuntimeConfig;
  configStatus(): ConfigStatus;
  clock: Clock;
}

// The console loads nothing from elsewhere: every fetch, script and style comes from this origin. uPlot sizes its
// canvas with style attributes, hence 'unsafe-inline' for styles only.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

function serveAsset(c: Ctx, a: Asset | undefined): Response {
  if (!a) throw new GatewayError('not_found', `Unknown route ${c.req.method} ${c.req.path}.`, { wireCode: 'unknown_url' });
  const headers: Record<string, string> = {
    'content-type': a.type,
    etag: a.etag,
    'cache-control': 'no-cache',
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    // Origin too: with server.cors the answer carries Access-Control-Allow-Origin for some origins only, and this
    // header replaces the `Vary: Origin` CORS set (server/cors.ts), so a shared cache would hand one site's to another.
    vary: 'accept-encoding, origin',
  };
  if (c.req.header('if-none-match') === a.etag) return c.body(null, 304, headers);
  const gzip = /\bgzip\b/.test(c.req.header('accept-encoding') ?? '');
  if (gzip) headers['content-encoding'] = 'gzip';
  return c.body(new Uint8Array(gzip ? a.gzip : a.body), 200, headers);
}

function fleet(router: Router, cfg: RuntimeConfig, clock: Clock): FleetSnapshot {
  const stats = router.stats();
  const modelsOf = new Map<string, string[]>();
  for (const m of cfg.modelList) for (const b of m.backends) modelsOf.set(b.id, [...(modelsOf.get(b.id) ?? []), m.name]);
  return {
    object: 'console.fleet',
    at: new Date(clock.wallMs()).toISOString(),
    queued: stats.queued,
    backends: stats.backends.map((b) => {
      const compiled = cfg.backends.get(b.id);
      const e = b.engine;
      return {
        id: b.id,
        // As the config view shows it: a password in the URL's userinfo is masked (the id never carries one).
        url: compiled ? redactUrl(compiled.url, '••••••') : b.id,
        kind: compiled?.kind ?? '',
        models: modelsOf.get(b.id) ?? [],
        status: b.status,
        healthy: b.healthy,
        inFlight: b.inFlight,
        running: e?.running ?? null,
        waiting: e?.waiting ?? null,
        kvUsage: e?.kvUsage ?? null,
        prefixHitRate: prefixHitRate(e?.prefixHitsTokens ?? null, e?.prefixQueriesTokens ?? null),
        scrapeAgeMs: b.scrapeAgeMs,
        ejections: b.ejections,
        lastDown: b.lastDown ? { status: b.lastDown.status, reason: b.lastDown.reason, at: new Date(b.lastDown.atMs).toISOString(), forMs: b.lastDown.forMs } : null,
      };
    }),
  };
}

/**
 * `/console`: the page and its two files (no credential: they hold no data), and `/console/api/*`, the views the
 * admin API does not already serve (the page reads usage, keys and limits from `/admin/*` itself). Scope `admin`.
 */
export function registerConsoleRoutes(app: Hono<Env>, deps: ConsoleDeps): void {
  const index = (c: Ctx) => serveAsset(c, deps.assets.get('index.html'));
  app.get('/console', index);
  app.get('/console/', index);
  app.get('/console/console.js', (c) => serveAsset(c, deps.assets.get('console.js')));
  app.get('/console/console.css', (c) => serveAsset(c, deps.assets.get('console.css')));
  const noStore = { 'cache-control': 'no-store' };
  app.get('/console/api/live', async (c) => {
    await deps.admin(c);
    return c.json(deps.live.snapshot(), 200, noStore);
  });
  app.get('/console/api/fleet', async (c) => {
    await deps.admin(c);
    return c.json(fleet(deps.router, deps.config(), deps.clock), 200, noStore);
  });
  app.get('/console/api/config', async (c) => {
    await deps.admin(c);
    return c.json(configView(deps.config().raw, deps.configStatus()), 200, noStore);
  });
  for (const p of ['/console', '/console/', '/console/console.js', '/console/console.css', '/console/api/live', '/console/api/fleet', '/console/api/config']) {
    refuseOtherMethods(app, p, 'GET');
  }
}
