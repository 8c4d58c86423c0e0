import { z } from 'zod';
import { bytes, duration } from './units.js';
import { governanceShape } from './governance-schema.js';
import { stateSchema, workersSchema } from './state-schema.js';
import { keysSectionSchema } from './keys-schema.js';

/**
 * The zod schema is the only source of config types. Every object is strict: an unknown key is an error, because
 * a typo in a limit or a timeout must never be silently ignored.
 */



const listen = z.union([z.string(), z.number().int().min(0).max(65535)]).transform((v, ctx) => {
  const s = String(v);
  const m = /^(?:(\[[^\]]+\]|[^:]+):)?(\d{1,5})$/.exec(s);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `expected "host:port" or a port number, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  const host = m[1] ? m[1].replace(/^\[|\]$/g, '') : '0.0.0.0';
  return { host, port };
}).meta({ format: 'listen' }); // the config reference shows its default as host:port

export const BACKEND_KINDS = ['vllm', 'sglang', 'tgi', 'llamacpp', 'ollama', 'openai'] as const;
export const POLICIES = [
  'round_robin',
  'random',
  'least_requests',
  'power_of_two',
  'weighted',
  'epp_default',
  'sticky_until_saturated',
  'sglang_cache_aware',
  'lmetric',
  'token_aware',
] as const;

const backendUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash;
    } catch {
      return false;
    }
  },
  { message: 'expected an http(s) URL such as http://vllm-0:8000 (no query or fragment)' },
);

/** vLLM's KVEventsConfig seen from the subscriber's side (ZeroMQ PUB endpoint, replay ROUTER, topic). */
const kvEventsSchema = z.strictObject({
  endpoint: z.string().regex(/^(tcp|ipc):\/\/\S+$/, 'expected a ZeroMQ endpoint such as tcp://vllm-0:5557').describe('The engine\'s publisher, e.g. tcp://vllm-0:5557 (vLLM binds tcp://*:5557 by default).'),
  replay_endpoint: z.string().regex(/^(tcp|ipc):\/\/\S+$/, 'expected a ZeroMQ endpoint such as tcp://vllm-0:5558').optional().describe('The engine\'s replay socket (vLLM replay_endpoint), used to fetch batches a gap or a late start missed; without it a gap makes routing use its own picture until the cache has turned over.'),
  topic: z.string().default('').describe('The publisher\'s topic (vLLM topic; default empty: every message).'),
  tokenizer: z.enum(['simulator', 'o200k_base', 'cl100k_base', 'p50k_base', 'r50k_base']).describe('The tokenizer the gateway splits prompts with to match the engine\'s blocks: exact only when it is the engine\'s own (simulator: infergate\'s simulated backends; tiktoken encodings). A different one is detected (routed prompts never show up in the events) and routing falls back to its own picture.'),
  stale: duration.default(10_000).describe('Longest wait for a routed prompt to show up in the events, and longest the engine\'s publisher may be unreachable, before routing stops trusting them.'),
});

export const backendSchema = z.strictObject({
  url: backendUrl.describe('Base URL of the backend: http(s)://host:port, or a base ending in /v1. Credentials in it (http://user:password@host) are sent as HTTP Basic authorization.'),
  name: z
    .string()
    .regex(/^[\x21-\x7e]([\x20-\x7e]{0,62}[\x21-\x7e])?$/, 'expected 1-64 printable ASCII characters, not starting or ending with a space')
    .optional()
    .describe('How error messages to clients name this backend (e.g. gpu-a100-1). Default: the model\'s name and the backend\'s place in its list (llama-8b#2). Clients never see the URL; logs, usage rows, traces and the console do.'),
  kind: z.enum(BACKEND_KINDS).default('vllm').describe('The server software, for error shapes, metric names and embeddings: vllm, sglang, tgi, llamacpp, ollama or openai.'),
  /** Upstream model name; defaults to the public model name. */
  model: z.string().min(1).optional().describe('The model name the backend knows; the request\'s model is rewritten to it. Default: the public name.'),
  /** Share of traffic under `policy: weighted` (canary splits); the other policies ignore it, so it is refused there. */
  weight: z.number().positive().default(1).describe('Traffic share under policy: weighted (canary splits, e.g. 3 and 1 send 75% and 25%); an error under other policies.'),
  /** Sent as `Authorization: Bearer` to the backend; use `${ENV_VAR}` so secrets stay out of the file. */
  api_key: z.string().optional().describe('Sent to the backend as Authorization: Bearer; use ${ENV_VAR} to keep it out of the file.'),
  /** Whether the backend can return base64 embeddings itself; defaults per kind. */
  embeddings_base64: z.boolean().optional().describe('Whether the backend returns base64 embeddings itself (default by kind: vllm and openai yes); otherwise the gateway encodes them.'),
  kv_events: kvEventsSchema.optional().describe('The engine\'s KV-cache events (vLLM started with --kv-events-config): while they are live they are routing\'s picture of this backend\'s prefix cache instead of the gateway\'s own guess. See README, KV events.'),
}).superRefine((b, ctx) => {
  const u = URL.canParse(b.url) ? new URL(b.url) : null;
  if (!u || (!u.username && !u.password)) return;
  // The credentials are percent-decoded for the Basic header (config/compile.ts): a stray `%` would fail there, at start.
  if (!isPercentEncoded(u.username) || !isPercentEncoded(u.password)) {
    ctx.addIssue({ code: 'custom', path: ['url'], message: 'the credentials in the URL are not valid percent-encoding: write a literal % as %25' });
  }
  // Credentials in the URL are sent as HTTP Basic (as curl does); with api_key too, one of them would be dropped.
  if (b.api_key !== undefined) ctx.addIssue({ code: 'custom', path: ['url'], message: 'a URL with credentials (user:password@) sends them as HTTP Basic; with api_key as well, keep only one' });
});

function isPercentEncoded(s: string): boolean {
  try {
    decodeURIComponent(s);
    return true;
  } catch {
    return false;
  }
}

/**
 * Output tokens an uncapped request is reserved and capped at under token limits, unless the model's observed p99 is
 * larger (api/pipeline.ts). The p99 alone can be pulled down by other callers' short answers (a stop sequence, a
 * classifier), and a cap there would cut ordinary answers short; 4096 leaves room for long chat answers, reasoning
 * models want more (`output_reserve`).
 */
export const DEFAULT_OUTPUT_RESERVE = 4096;

const modelName = z.string().min(1).max(256).regex(/^[^\s]+$/, 'model names cannot contain whitespace');

export const modelSchema = z
  .strictObject({
    name: modelName.describe('The public model name clients send (at most 256 characters, no whitespace).'),
    aliases: z.array(modelName).default([]).describe('Other names that resolve to this model.'),
    /** Default: `weighted` when any backend has a weight other than 1 (a canary split), else `token_aware`. */
    policy: z.enum(POLICIES).optional().describe('How a backend is picked per request. Default: weighted when any backend has a weight, else token_aware.'),
    /** Models tried in order when this one cannot serve, before the first byte reaches the client. */
    fallback: z.array(modelName).default([]).describe('Models tried in order when this one cannot serve, before the first byte reaches the client.'),
    /** Attempts on other backends of this pool before falling back (connect errors, 5xx, 429). */
    retries: z.number().int().min(0).max(10).default(2).describe('Other backends of this model tried after a failure before the first byte (connect errors, 5xx, 429, timeouts).'),
    output_reserve: z.number().int().min(1).max(10_000_000).default(DEFAULT_OUTPUT_RESERVE).describe('Under a tokens-per-minute limit or a quota, a request without max_tokens is reserved this many output tokens per choice (or the model\'s observed p99 output, when larger) and the backend is told to stop there, so the limit stays exact; an answer that reaches it ends with finish_reason length and raises the estimate. Raise it for reasoning models.'),
    backends: z.array(backendSchema).min(1, 'a model needs at least one backend').describe('The servers of this model (at least one).'),
  })
  .superRefine((m, ctx) => {
    // A client's error names the backend that failed by its label (config/compile.ts): two alike name neither.
    const labels = new Set<string>();
    m.backends.forEach((b, i) => {
      const label = b.name ?? `${m.name}#${i + 1}`;
      if (labels.has(label)) ctx.addIssue({ code: 'custom', path: ['backends', i, 'name'], message: `another backend of this model is labelled ${JSON.stringify(label)} already; give each backend its own name` });
      labels.add(label);
    });
  })
  .transform((m) => ({ ...m, policy: m.policy ?? (m.backends.some((b) => b.weight !== 1) ? ('weighted' as const) : ('token_aware' as const)) }));

/**
 * A browser origin as browsers send it (`scheme://host[:port]`, lowercase, default port left out), `*` for any, or
 * `https://*.example.com` for every subdomain of a domain. Written forms are normalised so they compare by equality.
 */
const corsOrigin = z.string().transform((s, ctx) => {
  if (s === '*') return s;
  const wildcard = /^[a-z][a-z0-9+.-]*:\/\/\*\./i.test(s);
  let u: URL | null = null;
  try {
    u = new URL(wildcard ? s.replace('//*.', '//wildcard.') : s);
  } catch {
    u = null;
  }
  // WHATWG URL takes `*` in a host: `https://*` and `https://*.` parsed, the latter matching every trailing-dot origin.
  const domain = wildcard && u ? u.hostname.slice('wildcard.'.length) : (u?.hostname ?? '');
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password || u.pathname !== '/' || u.search || u.hash || /[?#]$/.test(s) || domain.includes('*') || domain === '' || domain === '.') {
    ctx.addIssue({ code: 'custom', message: 'expected an origin such as https://app.example.com (scheme, host and port only), https://*.example.com, or *' });
    return z.NEVER;
  }
  return wildcard ? u.origin.replace('//wildcard.', '//*.') : u.origin;
});

export const serverSchema = z
  .strictObject({
    listen: listen.default({ host: '0.0.0.0', port: 8080 }).describe('Where the gateway listens: "host:port" or a port number (host 0.0.0.0).'),
    body_limit: bytes.default(16 * 1024 * 1024).describe('Largest request body accepted; larger ones get 413.'),
    timeouts: z
      .strictObject({
        connect: duration.default(2000).describe('Connecting to a backend.'),
        first_byte: duration.default(60_000).describe('Streams: until the backend\'s first chunk; the stream is then retried on another backend. A non-streamed answer comes whole at the end, so it is bounded by request instead.'),
        /**
         * Receiving the whole request, headers and body, from its first byte (Node's requestTimeout): a body that
         * trickles or never ends is answered 408 after this. Headers alone get at most a minute.
         */
        body: duration.refine((ms) => ms > 0, { message: 'expected a duration greater than 0' }).default(60_000).describe('Receiving the whole request (headers and body) from the client; a body that trickles or never ends gets 408. Headers alone get at most a minute.'),
        /** Between stream tokens once the first has come; time paused because the client reads slowly is not counted. */
        idle: duration.default(30_000).describe('Streams: the longest gap between chunks once the first has come (time the backend is paused because the client reads slowly does not count); the stream then ends with an error event naming this deadline.'),
        request: duration.default(300_000).describe('A whole non-streamed request (504 past it); does not limit streams, which are bounded by first_byte, idle and total.'),
        total: duration.default(600_000).describe('Absolute cap on the whole request, streamed or not.'),
      })
      .prefault({}).describe('Deadlines of a request.'),
    stream_heartbeat: duration.default(5000).describe('Streams: an SSE comment (`: keep-alive`) sent this often from the moment a backend accepts until the first token, so proxies and load balancers see a live connection; 0 turns it off.'),
    max_event_size: bytes.default(4 * 1024 * 1024).describe('Largest single SSE event accepted from a backend; past it the stream ends with an error event (upstream_event_too_large).'),
    max_messages: z.number().int().min(1).max(10_000_000).default(10_000).describe('Most chat messages one request may carry (400 past it): bounds the work done on a request before any limit can refuse it.'),
    max_json_nodes: z.number().int().min(1024).max(100_000_000).default(262_144).describe('Most arrays, objects and object members a JSON request body may hold (400 before it is parsed): what JSON.parse costs grows with them, not with the bytes (15 MB of `{},` held the event loop two seconds). Raise it with max_messages.'),
    response_limit: bytes.default(64 * 1024 * 1024).describe('Largest non-streamed backend response body; past it the client gets a 502 (upstream_response_too_large), not retried and not held against the backend (the request sized it). Raise it for very large embedding batches.'),
    drain: duration.default(30_000).describe('On SIGTERM/SIGINT: how long in-flight requests may finish before connections are closed.'),
    /** Connections kept per backend. */
    connections: z.number().int().min(1).max(4096).default(128).describe('Keep-alive connections per backend.'),
    /** Worker processes sharing the port (`auto`: one per usable CPU); see state-schema.ts. */
    workers: workersSchema,
    /**
     * Client connections held at once; beyond it new ones are closed on accept. `auto`: the descriptor limit minus
     * every backend pool at full size and a reserve, so idle clients can never starve the gateway's own upstream sockets.
     */
    max_connections: z.union([z.literal('auto'), z.number().int().min(1)]).default('auto').describe('Client connections held at once; beyond it new ones are closed on accept. auto: the open-file limit minus every backend pool at full size and a reserve of 256, so idle clients never take the descriptors the gateway needs for its backends.'),
    cors: z
      .strictObject({
        origins: z.array(corsOrigin).min(1, 'list at least one origin').describe('Origins whose pages may call the gateway from a browser: https://app.example.com, https://*.example.com (every subdomain), or * (any site; callers still need a token or key).'),
        max_age: duration.default(600_000).describe('How long a browser may reuse a preflight answer (Access-Control-Max-Age; Chromium keeps one at most 2h).'),
      })
      .optional()
      .describe('Cross-origin requests from browser apps (CORS). Absent: no CORS headers, so pages on other origins cannot read the gateway\'s answers. Credentials mode (cookies) is never allowed.'),
    /** Largest request head (request line and headers) accepted; larger ones get 431. Must exceed auth.max_token_bytes. */
    max_header_size: bytes.default(32 * 1024).describe('Largest request head (request line and headers) accepted; larger ones get 431. Must exceed auth.max_token_bytes by 1KiB so that an oversized token gets the gateway\'s own 401.'),
  })
  .prefault({});

const positiveDuration = duration.refine((ms) => ms > 0, { message: 'expected a duration greater than 0' });
const count = (min: number) => z.number().int().min(min);

/**
 * Health, scraping, the gateway queue and the fleet-wide retry budget. Every key is optional; the defaults are the
 * router's own. Only `retry_budget` is applied by a hot reload; the rest needs a restart (the gateway logs which).
 */
export const routingSchema = z
  .strictObject({
    health: z
      .strictObject({
        /** /health probe period; 0 turns active probes off. */
        probe_interval: duration.default(5000).describe('GET /health per backend this often; 0 turns active probes off.'),
        probe_timeout: positiveDuration.default(2000).describe('A probe slower than this failed.'),
        /** Consecutive failed probes that take a backend out, and good ones that bring it back. */
        unhealthy_after: count(1).default(2).describe('Consecutive failed probes that take a backend out of rotation.'),
        healthy_after: count(1).default(2).describe('Consecutive good probes that bring it back.'),
        /** Consecutive passive failures (5xx, timeouts, resets) that eject a backend; a refused connection ejects at once. */
        eject_after: count(1).default(3).describe('Consecutive passive failures (5xx, timeouts, resets) that eject a backend; a refused connection ejects at once.'),
        /** First ejection; each further one without a recovery doubles it, up to eject_max. */
        eject_base: positiveDuration.default(1000).describe('First ejection; doubled on each further one without a recovery, up to eject_max.'),
        eject_max: positiveDuration.default(30_000).describe('Longest ejection.'),
      })
      .prefault({})
      .superRefine((h, ctx) => {
        if (h.eject_max < h.eject_base) ctx.addIssue({ code: 'custom', path: ['eject_max'], message: `eject_max (${h.eject_max}ms) must not be shorter than eject_base (${h.eject_base}ms)` });
      }).describe('Active probes and passive ejection (needs a restart to change).'),
    scrape: z
      .strictObject({
        /** /metrics scrape period; 0 turns scraping off (routing then relies on the gateway's own accounting). */
        interval: duration.default(250).describe('GET /metrics of each backend this often to correct its live load; 0 turns scraping off.'),
        /** Default: four intervals, at least 100ms and at most 2s. */
        timeout: positiveDuration.optional().describe('A scrape slower than this failed. Default: four intervals, at least 100ms, at most 2s.'),
      })
      .prefault({}).describe('Reading the backends\' own metrics (needs a restart to change).'),
    queue: z
      .strictObject({
        /** Requests held when every backend is saturated; beyond this they are refused at once with 429. */
        max_size: count(0).max(1_000_000).default(1024).describe('Requests held while every backend is saturated; a full queue answers 429 at once.'),
        /** A request waiting longer is refused with 429 and a Retry-After. */
        max_wait: duration.default(30_000).describe('A request that waited longer gets 429 with Retry-After.'),
      })
      .prefault({}).describe('The gateway queue of token_aware (needs a restart to change).'),
    retry_budget: z
      .strictObject({
        /** Retries allowed per request over the window (0.2: retries add at most 20% to the load). */
        ratio: z.number().min(0).max(1).default(0.2).describe('Retries may add at most this share to the requests of the window (0.2: 20%).'),
        /** Retries always allowed per second, however few requests there are. */
        min_per_second: z.number().min(0).max(100_000).default(10).describe('Retries always allowed per second, however little traffic there is.'),
        window: positiveDuration.default(10_000).describe('The sliding window the budget is counted over.'),
      })
      .prefault({}).describe('Fleet-wide cap on retries and fallbacks (applied at once on reload).'),
  })
  .prefault({});

export const simSchema = z.strictObject({
  replicas: z.number().int().min(1).max(64).default(2).describe('Simulated backends started in-process.'),
  model: modelName.default('sim-llama-8b').describe('The model they serve (added to models).'),
  personality: z.enum(['vllm', 'sglang', 'tgi', 'llamacpp']).default('vllm').describe('Which server they imitate: error shapes and metric names.'),
  engine: z.enum(['simple', 'fast', 'vllm']).default('simple').describe('simple, fast (fixed answers, for benchmarks) or vllm (a vLLM-faithful scheduler).'),
  time_scale: z.number().positive().max(100).default(1).describe('Below 1 the simulation runs faster than real time.'),
  base_port: z.number().int().min(0).max(65535).default(0).describe('Port of the first simulated backend (the next ones follow); 0 picks free ports.'),
  policy: z.enum(POLICIES).optional().describe('Balancing policy of the simulated model. Default: token_aware.'),
});

export const telemetrySchema = z
  .strictObject({
    metrics: z.boolean().default(true).describe('Serve Prometheus metrics at /metrics.'),
    tracing: z.union([z.boolean(), z.literal('auto')]).default('auto').describe('OpenTelemetry traces; auto: on when OTEL_EXPORTER_OTLP_ENDPOINT is set.'),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Level of the JSON log on stdout.'),
    log_pretty: z.boolean().default(false).describe('Human-readable logs instead of JSON lines (development).'),
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    ...governanceShape,
    /** Gateway-managed API keys (src/config/keys-schema.ts); off by default. */
    keys: keysSectionSchema.default(false).describe('Gateway-managed API keys, or false (the default).'),
    server: serverSchema.describe('The listener, limits on what clients send, timeouts and shutdown.'),
    models: z.array(modelSchema).default([]).describe('The public models and their backends.'),
    sim: simSchema.optional().describe('Start simulated backends in-process and serve their model (quick start, tests, benchmarks).'),
    telemetry: telemetrySchema.describe('Metrics, traces and logs.'),
    routing: routingSchema.describe('Health, scraping, the gateway queue and the retry budget; every key optional.'),
    state: stateSchema.optional(),
  })
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, string>();
    cfg.models.forEach((m, i) => {
      for (const [j, name] of [m.name, ...m.aliases].entries()) {
        const owner = seen.get(name);
        if (owner !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: j === 0 ? ['models', i, 'name'] : ['models', i, 'aliases', j - 1],
            message: `model name "${name}" is already used by model "${owner}"`,
          });
        }
        seen.set(name, m.name);
      }
    });
    if (cfg.sim && seen.has(cfg.sim.model) && !cfg.models.some((m) => m.name === cfg.sim!.model)) {
      ctx.addIssue({ code: 'custom', path: ['sim', 'model'], message: `"${cfg.sim.model}" is already an alias of another model` });
    }
    const known = new Set(seen.keys());
    if (cfg.sim) known.add(cfg.sim.model);
    cfg.models.forEach((m, i) =>
      m.fallback.forEach((f, j) => {
        if (!known.has(f)) ctx.addIssue({ code: 'custom', path: ['models', i, 'fallback', j], message: `unknown fallback model "${f}"` });
        if (f === m.name) ctx.addIssue({ code: 'custom', path: ['models', i, 'fallback', j], message: 'a model cannot fall back to itself' });
      }),
    );
    cfg.models.forEach((m, i) => {
      if (m.policy === 'weighted') return;
      const j = m.backends.findIndex((b) => b.weight !== 1);
      if (j >= 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['models', i, 'backends', j, 'weight'],
          message: `weight only applies to policy: weighted (this model uses ${m.policy}); set policy: weighted for a weighted split or remove the weight`,
        });
      }
    });
    if (cfg.auth !== 'none' && cfg.auth.max_token_bytes + 1024 > cfg.server.max_header_size) {
      ctx.addIssue({
        code: 'custom',
        path: ['server', 'max_header_size'],
        message: `must exceed auth.max_token_bytes (${cfg.auth.max_token_bytes}) by at least 1KiB, or an oversized token is refused by the HTTP parser (431) before auth can say why`,
      });
    }
    if (cfg.models.length === 0 && !cfg.sim) {
      ctx.addIssue({ code: 'custom', path: ['models'], message: 'configure at least one model (or a `sim` section)' });
    }
  });

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type BackendConfig = z.output<typeof backendSchema>;
export type ModelConfig = z.output<typeof modelSchema>;
export type SimConfig = z.output<typeof simSchema>;
export type RoutingConfig = z.output<typeof routingSchema>;
