import { DEFAULT_OUTPUT_RESERVE, type BackendConfig, type Config, type ModelConfig, type RoutingConfig } from './schema.js';

/** Which engine kinds can return base64 embeddings themselves; for the others the gateway converts floats. */
const NATIVE_BASE64: Record<BackendConfig['kind'], boolean> = {
  vllm: true,
  openai: true,
  sglang: false,
  tgi: false,
  llamacpp: false,
  ollama: false,
};

/** Structurally a routing `BackendTarget`; config does not import routing (see the module table). */
export interface CompiledBackend {
  /** Stable id: the normalised base URL, so live state survives a reload. */
  readonly id: string;
  /**
   * How client-facing error messages name the backend: its `name`, else `<model>#<n>`. Never the URL, which is an
   * internal address (operators see it in logs, usage rows, traces and the console).
   */
  readonly label: string;
  readonly url: string;
  readonly kind: BackendConfig['kind'];
  readonly weight: number;
  /** Upstream model name sent to this backend. */
  readonly model: string;
  /** `Authorization` header value sent upstream, or null. */
  readonly authorization: string | null;
  readonly embeddingsBase64: boolean;
  /** The engine's KV events (`kv_events`), or null. */
  readonly kvEvents: BackendConfig['kv_events'] | null;
  /** `http://host:port`, the key of the connection pool. */
  readonly origin: string;
  /**
   * Paths per endpoint, precomputed so the hot path only concatenates nothing. `health` is the server root's
   * `/health` (a base URL's `/v1` removed, any prefix before it kept). `probe` and `metrics` are what the router's
   * monitor GETs for this kind (see monitorPaths); null when the kind has no such endpoint.
   */
  readonly paths: {
    readonly chat: string;
    readonly completions: string;
    readonly embeddings: string;
    readonly health: string;
    readonly probe: string | null;
    readonly metrics: string | null;
  };
}

export interface CompiledPool {
  readonly name: string;
  readonly policy: ModelConfig['policy'];
  readonly targets: readonly CompiledBackend[];
}

export interface CompiledModel {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly pool: CompiledPool;
  readonly backends: readonly CompiledBackend[];
  readonly fallback: readonly string[];
  /** `output_reserve`: the least an uncapped request is reserved (and capped at) per choice under token limits. */
  readonly outputReserve: number;
  readonly retries: number;
  /** Epoch seconds, for `/v1/models` `created`. Stable across reloads of the same model. */
  readonly created: number;
}

/** Structurally routing's `RouterOptions` (less the clock); config does not import routing (see the module table). */
export interface CompiledRouterOptions {
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  readonly scrapeIntervalMs: number;
  readonly scrapeTimeoutMs: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
  readonly ejectAfter: number;
  readonly baseEjectMs: number;
  readonly maxEjectMs: number;
  readonly queue: { readonly maxQueued: number; readonly maxWaitMs: number };
}

/** The `routing` section in the units the router and the retry budget take. */
export interface CompiledRouting {
  readonly router: CompiledRouterOptions;
  /** Structurally routing's `RetryBudgetOptions`. */
  readonly retryBudget: { readonly ratio: number; readonly minPerSecond: number; readonly windowMs: number };
}

export interface RuntimeConfig {
  readonly source: string;
  readonly server: Config['server'];
  readonly telemetry: Config['telemetry'];
  /** Public names and aliases → model. */
  readonly models: ReadonlyMap<string, CompiledModel>;
  /** Each model once, in file order. */
  readonly modelList: readonly CompiledModel[];
  readonly pools: readonly CompiledPool[];
  /** Backend id → backend (one per distinct URL). */
  readonly backends: ReadonlyMap<string, CompiledBackend>;
  readonly routing: CompiledRouting;
  readonly raw: Config;
}

export interface CompileOptions {
  /** URLs of the embedded simulated backends, when the config has a `sim` section and they were started. */
  simUrls?: readonly string[];
  /** `created` of models from the previous config, so a reload does not change them. */
  previous?: RuntimeConfig | null;
  nowSeconds?: number;
}

/**
 * What the router polls on each kind, relative to the server's root (`/v1` is the OpenAI base under it):
 * vLLM, SGLang, TGI and llama.cpp serve `/health` and Prometheus `/metrics` (llama-server only with `--metrics`; a
 * missing one is backed off, see routing/backend-monitor.ts). Ollama answers `/api/version` and has no Prometheus
 * endpoint. A generic OpenAI-compatible server promises nothing but the OpenAI API, so it is probed with
 * `GET /v1/models` (its own credentials sent) and never scraped.
 */
function monitorPaths(kind: BackendConfig['kind'], root: string, v1: string): { probe: string | null; metrics: string | null } {
  switch (kind) {
    case 'ollama':
      return { probe: `${root}/api/version`, metrics: null };
    case 'openai':
      return { probe: `${v1}/models`, metrics: null };
    default:
      return { probe: `${root}/health`, metrics: `${root}/metrics` };
  }
}

/** `Authorization: Basic` from a URL's userinfo (percent-decoded, as curl and browsers send it), or null. */
function basicAuthorization(u: URL): string | null {
  if (!u.username && !u.password) return null;
  return `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
}

function compileBackend(b: ModelConfig['backends'][number], publicName: string, index: number): CompiledBackend {
  const u = new URL(b.url);
  const base = u.pathname.replace(/\/+$/, '');
  const v1 = base.endsWith('/v1') ? base : `${base}/v1`;
  const root = base.endsWith('/v1') ? base.slice(0, -3) : base;
  return Object.freeze({
    id: `${u.protocol}//${u.host}${base}`,
    label: b.name ?? `${publicName}#${index + 1}`,
    url: b.url,
    kind: b.kind,
    weight: b.weight,
    model: b.model ?? publicName,
    authorization: b.api_key ? `Bearer ${b.api_key}` : basicAuthorization(u),
    embeddingsBase64: b.embeddings_base64 ?? NATIVE_BASE64[b.kind],
    kvEvents: b.kv_events ? Object.freeze({ ...b.kv_events }) : null,
    origin: `${u.protocol}//${u.host}`,
    paths: Object.freeze({
      chat: `${v1}/chat/completions`,
      completions: `${v1}/completions`,
      embeddings: `${v1}/embeddings`,
      health: `${root}/health`,
      ...monitorPaths(b.kind, root, v1),
    }),
  });
}

function compileRouting(r: RoutingConfig): CompiledRouting {
  const { health, scrape, queue, retry_budget: budget } = r;
  return Object.freeze({
    router: Object.freeze({
      probeIntervalMs: health.probe_interval,
      probeTimeoutMs: health.probe_timeout,
      scrapeIntervalMs: scrape.interval,
      // Unset: a scrape may take four intervals (at least 100ms, at most 2s) before the next one is due.
      scrapeTimeoutMs: scrape.timeout ?? Math.min(2000, Math.max(100, scrape.interval * 4)),
      unhealthyThreshold: health.unhealthy_after,
      healthyThreshold: health.healthy_after,
      ejectAfter: health.eject_after,
      baseEjectMs: health.eject_base,
      maxEjectMs: health.eject_max,
      queue: Object.freeze({ maxQueued: queue.max_size, maxWaitMs: queue.max_wait }),
    }),
    retryBudget: Object.freeze({ ratio: budget.ratio, minPerSecond: budget.min_per_second, windowMs: budget.window }),
  });
}

/** Validated config → frozen runtime maps. Runs once per load; the hot path only reads what this builds. */
export function compileConfig(cfg: Config, source: string, options: CompileOptions = {}): RuntimeConfig {
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const modelConfigs: ModelConfig[] = [...cfg.models];
  if (cfg.sim && options.simUrls?.length && !modelConfigs.some((m) => m.name === cfg.sim!.model)) {
    modelConfigs.push({
      name: cfg.sim.model,
      aliases: [],
      policy: cfg.sim.policy ?? 'token_aware',
      fallback: [],
      retries: 2,
      output_reserve: DEFAULT_OUTPUT_RESERVE,
      backends: options.simUrls.map((url) => ({ url, kind: cfg.sim!.personality, weight: 1 })),
    });
  }
  const models = new Map<string, CompiledModel>();
  const modelList: CompiledModel[] = [];
  const backends = new Map<string, CompiledBackend>();
  for (const m of modelConfigs) {
    const compiled = m.backends.map((b, i) => compileBackend(b, m.name, i));
    for (const b of compiled) if (!backends.has(b.id)) backends.set(b.id, b);
    const model: CompiledModel = Object.freeze({
      name: m.name,
      aliases: Object.freeze([...m.aliases]),
      pool: Object.freeze({ name: m.name, policy: m.policy, targets: Object.freeze(compiled) }),
      backends: Object.freeze(compiled),
      fallback: Object.freeze([...m.fallback]),
      outputReserve: m.output_reserve,
      retries: m.retries,
      created: options.previous?.models.get(m.name)?.created ?? now,
    });
    modelList.push(model);
    models.set(m.name, model);
    for (const a of m.aliases) models.set(a, model);
  }
  return Object.freeze({
    source,
    server: cfg.server,
    telemetry: cfg.telemetry,
    models,
    modelList: Object.freeze(modelList),
    pools: Object.freeze(modelList.map((m) => m.pool)),
    backends,
    routing: compileRouting(cfg.routing),
    raw: cfg,
  });
}
