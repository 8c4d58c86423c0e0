import cluster from 'node:cluster';
import { Server as NetServer, type AddressInfo } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createPipeline, type LiveConfig } from '../api/index.js';
import { compileConfig, loadConfigFile, parseConfigText, watchConfigFile, type Config, type ConfigWatcher, type RuntimeConfig } from '../config/index.js';
import { systemClock, type Clock, type Endpoint, type RequestCtx } from '../core/index.js';
import { createRetryBudget, createRouter, routerSamples, type Router } from '../routing/index.js';
import { createTelemetry, type Telemetry } from '../telemetry/index.js';
import { BackendPools } from '../upstream/index.js';
import { createOutputEstimator, createTokenCounter, type UsageWriter } from '../usage/index.js';
import { openUsageLog } from './usage-log.js';
import { loadProblems } from './load-problems.js';
import { buildGovernance, buildLimiter, GovernanceStores } from './governance.js';
import { openKeys } from './keys-wiring.js';
import { createLiveStats, loadConsoleAssets, type ConfigStatus } from '../console/index.js';
import { createApp, createOpenAIHandler, type AppDeps } from './app.js';
import type { Logger } from './logger.js';
import type { Broadcast, LeaseClient } from '../state/index.js';
import { openSharedState } from './shared-state.js';
import { openRoutingExchange } from './routing-exchange.js';
import { startUsageSync, usageSyncSamples } from './usage-sync.js';
import { openKvEvents } from './kv-events.js';
import { openSharedResponses } from './shared-responses.js';
import { connectionCap, drainAwareResponse } from './connections.js';
import { createClientErrorHandler } from './protocol-errors.js';
import { drainRequests } from './draining.js';
import { createFramingRefusals, createHonoHandoff } from './framing.js';
import { REQUEST_ID, type Tagged } from './request-tag.js';
import { clientBase } from './banner.js';
import { Cors } from './cors.js';

export interface GatewayOptions {
  /** A YAML file to load (and watch, unless watch is false). */
  configFile?: string;
  /** Or YAML text, for tests and embedding. */
  configText?: string;
  /** Or an already validated config. */
  config?: Config;
  /** URLs of embedded simulated backends for the config's `sim` section. */
  simUrls?: readonly string[];
  /** Overrides `server.listen` (tests pass port 0). */
  listen?: { host?: string; port?: number };
  watch?: boolean;
  clock?: Clock;
  logger?: Logger;
  router?: Router;
  /** Defaults to one built from the config's `telemetry` section. */
  telemetry?: Telemetry;
  onRequestEnd?: (ctx: RequestCtx) => void;
  /** A usage writer from the caller (a worker hands its rows to the supervisor); default: opened from `usage`. */
  usage?: UsageWriter | null;
  /** Shared limit state from the caller (a worker's leases from its supervisor); default: Redis if `state.redis`. */
  leases?: LeaseClient | null;
  /** The routing exchange's channel from the caller (a worker's, through its supervisor); default: Redis if `state.redis`. */
  broadcast?: Broadcast | null;
  /** The channel for stored Responses ids from the caller (a worker's); default: Redis if `state.redis`. */
  responsesBroadcast?: Broadcast | null;
}

export interface Gateway {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  readonly telemetry: Telemetry;
  /** The usage log, when the config has `usage.sqlite`. */
  readonly usage: UsageWriter | null;
  config(): RuntimeConfig;
  live(): LiveConfig;
  /** Re-reads the config file; a bad file keeps the last good config. Resolves true when the new one is live. */
  reload(): Promise<boolean>;
  /**
   * Compiles a validated config and its governance without applying it (throws if it cannot be built); the returned
   * function makes it live. The supervisor uses the two steps so that every worker swaps to a new config or none does.
   */
  prepareReload(next: Config, source: string): () => void;
  /** Records a reload refused before this process saw the text (the supervisor's validation with server.workers). */
  reloadFailed(problems: string[]): void;
  /** Stops accepting, lets in-flight requests finish up to `drainMs`, then closes connections and pools. */
  close(drainMs?: number): Promise<void>;
  /**
   * Before a forced exit (a second signal): waits for no request, but writes what already ended, the queued usage
   * rows and the quota counters, synchronously. Nothing of the gateway may run after it.
   */
  abandon(): void;
}

async function loadInitial(opts: GatewayOptions): Promise<{ cfg: Config; source: string }> {
  if (opts.config) return { cfg: opts.config, source: opts.configFile ?? '(inline)' };
  if (opts.configText !== undefined) return { cfg: parseConfigText(opts.configText, '(inline)'), source: '(inline)' };
  if (opts.configFile) return { cfg: await loadConfigFile(opts.configFile), source: opts.configFile };
  throw new Error('startGateway needs configFile, configText or config');
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const clock = opts.clock ?? systemClock;
  const { cfg, source } = await loadInitial(opts);
  const telemetry =
    opts.telemetry ??
    createTelemetry({
      metrics: cfg.telemetry.metrics,
      tracing: cfg.telemetry.tracing,
      // A worker of server.workers shares its supervisor's stdout.
      log: { level: cfg.telemetry.log_level, pretty: cfg.telemetry.log_pretty, sharedOutput: cluster.isWorker },
      clock,
    });
  const logger: Logger = opts.logger ?? telemetry.logger;
  const baseDir = process.cwd();
  const stores = new GovernanceStores(await openSharedState(cfg, { logger, telemetry, given: opts.leases }));
  const keys = await openKeys(cfg, { clock, logger, baseDir });
  let live: LiveConfig = { cfg: compileConfig(cfg, source, { simUrls: opts.simUrls }), ...buildGovernance(cfg, stores, { clock, logger, baseDir, keys }) };
  // A key's limits changed (here or in another process): the same config with the new per-key rules.
  keys?.onRulesChange(() => {
    live = { ...live, limiter: buildLimiter(live.cfg.raw, stores, { clock, logger, baseDir, keys }) };
  });
  let current = live.cfg;
  if (cfg.auth === 'none') logger.warn({ event: 'auth_disabled' }, 'auth: none — every caller can use every model; use it for local experiments only');
  const usage = opts.usage !== undefined ? opts.usage : cfg.usage === false ? null : openUsageLog(cfg.usage, logger, telemetry);
  // Serve only once the usage log's writer thread holds the database, so a hard kill right after start loses no more
  // rows than at any other time.
  await usage?.ready;
  if (usage) {
    telemetry.registerCollector('usage', () => {
      const s = usage.stats();
      return [
        { name: 'infergate_usage_queue_length', value: s.queueLength },
        { name: 'infergate_usage_rows_dropped_total', value: s.rowsDropped, type: 'counter' },
        { name: 'infergate_usage_sync_flushes_total', value: s.syncFlushes, type: 'counter' },
        { name: 'infergate_usage_write_errors_total', value: s.writeErrors, type: 'counter' },
      ];
    });
  }
  // Usage across replicas, run by whichever process owns the usage log (a worker's rows go to its supervisor's).
  const usageSync = usage && opts.usage === undefined && cfg.state?.redis && cfg.state.usage.share ? await startUsageSync(usage, cfg.state, logger) : null;
  if (usageSync) telemetry.registerCollector('usage_share', () => usageSyncSamples(usageSync.stats()));
  const pools = new BackendPools({ connections: cfg.server.connections, connectTimeoutMs: cfg.server.timeouts.connect });
  // Other replicas' routed prefixes, load and session turns (null alone, or with state.routing.enabled false).
  const exchange = opts.router ? null : await openRoutingExchange(cfg, { logger, telemetry, given: opts.broadcast });
  // Engines' own KV events, the ground truth of their prefix caches where configured (each replays its history first).
  const kvEvents = opts.router ? null : await openKvEvents(current, { logger, telemetry, now: () => clock.now() });
  const core = { ...(exchange ? { replica: exchange } : {}), ...(kvEvents ? { kvEvents: kvEvents.sources } : {}) };
  const router = opts.router ?? createRouter({ clock, logger, ...current.routing.router, core });
  router.setPools(current.pools);
  // Catches up from the fleet's snapshot before serving, so a restarted replica does not route blind.
  await exchange?.start();
  const responses = openSharedResponses(cfg, opts.responsesBroadcast);
  const retryBudget = createRetryBudget({ clock, ...current.routing.retryBudget });
  /** What the router runs with: the file's routing section at start (only retry_budget changes live). */
  const runningRouting = cfg.routing;
  const inflight = { count: 0 };
  let draining = false;

  const knownModels = (rt: RuntimeConfig) => [...rt.models.keys()];
  telemetry.setKnownModels(knownModels(current));
  telemetry.registerCollector('gateway', () => [
    { name: 'infergate_in_flight_requests', value: inflight.count },
    { name: 'infergate_retry_budget_available', value: retryBudget.available() },
  ]);
  telemetry.registerCollector('backends', () => routerSamples(router.stats()));

  // The console's Live page: per-10s aggregates of the last hour, fed from the request-end hook.
  const liveStats = createLiveStats(clock.wallMs);
  const configStatus: ConfigStatus = { source, loadedAtMs: clock.wallMs(), lastReloadError: null };
  const consoleAssets = await loadConsoleAssets();
  const tokens = createTokenCounter();
  tokens.warm(current.modelList.map((m) => m.name));
  const pipeline = createPipeline({
    router,
    retryBudget,
    pools,
    clock,
    telemetry,
    tokens,
    outputs: createOutputEstimator(),
    usage,
    responses: responses.store,
    onEnd: (ctx) => {
      liveStats.record(ctx);
      opts.onRequestEnd?.(ctx);
    },
  });
  const appDeps: AppDeps = {
    pipeline,
    clock,
    telemetry,
    usage,
    keys,
    console: { assets: consoleAssets, live: liveStats, router, config: () => current, configStatus: () => configStatus, clock },
    live: () => live,
    inflight,
    draining: () => draining,
    // Ready means this instance can take traffic: config loaded and not draining. One model's broken pool must not
    // take every replica out of a load balancer at once; per-model health is `/readyz?model=NAME`.
    ready: () => (draining ? { ready: false, reason: 'shutting down' } : { ready: true }),
    modelHealth: (name) => {
      const m = current.models.get(name);
      if (!m) return null;
      const healthy = m.backends.filter((b) => router.isHealthy(b.id)).length;
      return { model: m.name, healthy, backends: m.backends.length };
    },
  };
  const app = createApp(appDeps);

  const apply = (nextLive: LiveConfig) => {
    live = nextLive;
    const next = nextLive.cfg;
    // Turning on debug logging is what a reload is for at 3 a.m.; the level is the one telemetry setting read live.
    if (next.raw.telemetry.log_level !== current.raw.telemetry.log_level) telemetry.setLogLevel(next.raw.telemetry.log_level);
    current = next;
    tokens.warm(next.modelList.map((m) => m.name));
    telemetry.setKnownModels(knownModels(next));
    pools.sync(
      [...next.backends.values()].map((b) => b.origin),
      { connections: next.server.connections, connectTimeoutMs: next.server.timeouts.connect },
    );
    router.setPools(next.pools);
    retryBudget.configure(next.routing.retryBudget);
    cors = corsFor(next);
    server.maxConnections = connectionCap(next.server.max_connections, poolConnections(next));
  };

  const prepareReload = (next: Config, file: string): (() => void) => {
      const compiled = compileConfig(next, file, { simUrls: opts.simUrls, previous: current });
      const governance = buildGovernance(next, stores, { clock, logger, baseDir, keys });
      if (JSON.stringify(next.keys) !== JSON.stringify(current.raw.keys)) {
        logger.warn({ event: 'keys_change_needs_restart' }, 'changes to the keys section take effect at the next start');
      }
      if (JSON.stringify(next.usage) !== JSON.stringify(current.raw.usage)) {
        logger.warn({ event: 'usage_change_needs_restart' }, 'changes to the usage section take effect at the next start');
      }
      // The listener (its address, its parser's header limit and receive deadline), the worker count, the in-process
      // simulators and the telemetry sinks are set up once, at start; the log level alone is applied live (apply).
      const serverChanged = [
        ['server.listen', next.server.listen, current.raw.server.listen],
        ['server.workers', next.server.workers, current.raw.server.workers],
        ['server.max_header_size', next.server.max_header_size, current.raw.server.max_header_size],
        ['server.timeouts.body', next.server.timeouts.body, current.raw.server.timeouts.body],
        ['telemetry.tracing', next.telemetry.tracing, current.raw.telemetry.tracing],
        ['telemetry.log_pretty', next.telemetry.log_pretty, current.raw.telemetry.log_pretty],
        ['sim', next.sim, current.raw.sim],
        // Redis, the fallback share and the usage sharing are opened once (server/shared-state.ts, usage-sync.ts).
        ['state', next.state, current.raw.state],
      ]
        .filter(([, a, b]) => JSON.stringify(a) !== JSON.stringify(b))
        .map(([k]) => k as string);
      // /metrics follows the live config when turned off, but its registry exists only if it was on at start.
      if (next.telemetry.metrics && !current.raw.telemetry.metrics && !cfg.telemetry.metrics) serverChanged.push('telemetry.metrics');
      if (serverChanged.length > 0) {
        logger.warn({ event: 'server_change_needs_restart', sections: serverChanged }, `changes to ${serverChanged.join(', ')} take effect at the next start`);
      }
      // The router's probes, health thresholds and queue are built once; the retry budget is reconfigured live.
      const routingChanged = (['health', 'scrape', 'queue'] as const)
        .filter((k) => JSON.stringify(next.routing[k]) !== JSON.stringify(runningRouting[k]))
        .map((k) => `routing.${k}`);
      if (routingChanged.length > 0) {
        logger.warn(
          { event: 'routing_change_needs_restart', sections: routingChanged },
          `changes to ${routingChanged.join(', ')} take effect at the next start (routing.retry_budget applies at once)`,
        );
      }
      return () => {
        apply({ cfg: compiled, ...governance });
        Object.assign(configStatus, { source: file, loadedAtMs: clock.wallMs(), lastReloadError: null });
        telemetry.recordConfigReload(true);
        logger.info({ event: 'config_reloaded', file, models: current.modelList.length }, 'config reloaded');
      };
  };

  const reloadFailed = (problems: string[]): void => {
    telemetry.recordConfigReload(false);
    configStatus.lastReloadError = { atMs: clock.wallMs(), problems };
  };

  const reload = async (): Promise<boolean> => {
    if (!opts.configFile) return false;
    try {
      prepareReload(await loadConfigFile(opts.configFile), opts.configFile)();
      return true;
    } catch (err) {
      const problems = loadProblems(err, opts.configFile);
      reloadFailed(problems);
      logger.error({ event: 'config_reload_failed', file: opts.configFile, problems }, 'config reload failed; keeping the last good config');
      return false;
    }
  };

  const corsFor = (rt: RuntimeConfig) => (rt.server.cors ? new Cors(rt.server.cors) : null);
  let cors = corsFor(current);
  const framing = createFramingRefusals({ clock, usage: () => usage });
  const hono = createHonoHandoff(app.fetch, framing);
  const openai = createOpenAIHandler(appDeps);
  const HOT = new Map<string, Endpoint>([
    ['/v1/chat/completions', 'chat'],
    ['/v1/completions', 'completions'],
    ['/v1/embeddings', 'embeddings'],
  ]);
  const bodyTimeout = cfg.server.timeouts.body;
  const headersTimeout = Math.min(60_000, bodyTimeout);
  const server = createServer(
    {
      maxHeaderSize: cfg.server.max_header_size,
      requestTimeout: bodyTimeout,
      headersTimeout,
      // How often Node sweeps connections for these two timeouts (its default, 30s, would make them that late).
      connectionsCheckingInterval: Math.min(5_000, Math.max(50, Math.floor(headersTimeout / 10))),
      ServerResponse: drainAwareResponse(() => draining),
      // Node's own 400 for HTTP/1.1 without Host is bare; the listener checks the same property and answers in the
      // envelope (HTTP/1.0 may omit Host, and Host never routes).
      requireHostHeader: false,
    },
    onRequest,
  );
  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (req.headers.host === undefined && req.httpVersionMinor === 1) return framing.missingHost(req, res);
    if (cors !== null && cors.handle(req, res)) return;
    const endpoint = req.method === 'POST' ? HOT.get(req.url ?? '') : undefined;
    if (endpoint === undefined) return hono.serve(req, res);
    openai.serve(endpoint, req, res);
  }
  server.on('checkContinue', framing.continueOrRefuse(() => current.server.body_limit, onRequest));
  server.on('checkExpectation', framing.expectation);
  server.on('connect', framing.connect);
  // Node's requestTimeout (server.timeouts.body) bounds receiving the request, not the response, so long generations
  // are unaffected. Refusals of its parser (431, 408, 400) are answered in OpenAI's envelope and logged as usage.
  server.keepAliveTimeout = 65_000;
  const poolConnections = (rt: RuntimeConfig) => rt.backends.size * rt.server.connections;
  server.maxConnections = connectionCap(cfg.server.max_connections, poolConnections(current));
  // Node closes a connection over the cap on accept, without a word; count them so an operator sees the cap bite.
  let refusedConnections = 0;
  server.on('drop', () => refusedConnections++);
  telemetry.registerCollector('connections', () => [
    { name: 'infergate_connections_max', value: server.maxConnections, help: 'Client connections accepted at once (server.max_connections).' },
    {
      name: 'infergate_connections_refused_total',
      value: refusedConnections,
      type: 'counter',
      help: 'Client connections closed on accept because server.max_connections were open.',
    },
  ]);
  server.on(
    'clientError',
    createClientErrorHandler({ clock, usage: () => usage, requestIdOf: (res) => (res.req as Tagged)[REQUEST_ID] }),
  );
  const host = opts.listen?.host ?? cfg.server.listen.host;
  const port = opts.listen?.port ?? cfg.server.listen.port;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const base = clientBase(addr.address, addr.port);
  hono.setHost(base.slice('http://'.length));

  let watcher: ConfigWatcher | null = null;
  if (opts.configFile && opts.watch !== false) watcher = watchConfigFile(opts.configFile, () => void reload());

  return {
    url: base,
    port: addr.port,
    server,
    telemetry,
    usage,
    config: () => current,
    live: () => live,
    reload,
    prepareReload,
    reloadFailed,
    abandon() {
      usage?.close();
      stores.close();
    },
    async close(drainMs = current.server.drain) {
      draining = true;
      watcher?.close();
      // Stop listening but keep open connections (net's close; http's would also close idle keep-alive connections at
      // once, resetting a request a client is sending on one just then). A request on a kept connection is answered,
      // with `Connection: close` as every response is from now on, and the client moves on.
      const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
      await drainRequests({ server, clock, inflight, cut: pipeline.shutdown }, drainMs);
      server.close(() => {}); // http's own close steps (the timeout sweep); the listener is already closed
      await closed;
      router.close();
      await exchange?.close();
      kvEvents?.close();
      await responses.close();
      await pools.close();
      // Every queued usage row is written (and shipped to the other replicas) before exit; quota counters are written back.
      await usageSync?.close();
      usage?.close();
      await keys?.close();
      await stores.leases?.close(); // final usage report and every spare unit back to the authority
      stores.close();
      await telemetry.shutdown();
    },
  };
}
