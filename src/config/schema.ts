import { z } from 'zod';
import { bytes, duration } from './units.js';
import { governanceShape } from './governance-schema.js';

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
});

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

export const backendSchema = z.strictObject({
  url: backendUrl,
  kind: z.enum(BACKEND_KINDS).default('vllm'),
  /** Upstream model name; defaults to the public model name. */
  model: z.string().min(1).optional(),
  weight: z.number().positive().default(1),
  /** Sent as `Authorization: Bearer` to the backend; use `${ENV_VAR}` so secrets stay out of the file. */
  api_key: z.string().optional(),
  /** Whether the backend can return base64 embeddings itself; defaults per kind. */
  embeddings_base64: z.boolean().optional(),
});

const modelName = z.string().min(1).max(256).regex(/^[^\s]+$/, 'model names cannot contain whitespace');

export const modelSchema = z.strictObject({
  name: modelName,
  aliases: z.array(modelName).default([]),
  policy: z.enum(POLICIES).default('least_requests'),
  /** Models tried in order when this one cannot serve, before the first byte reaches the client. */
  fallback: z.array(modelName).default([]),
  /** Attempts on other backends of this pool before falling back (connect errors, 5xx, 429). */
  retries: z.number().int().min(0).max(10).default(2),
  backends: z.array(backendSchema).min(1, 'a model needs at least one backend'),
});

export const serverSchema = z
  .strictObject({
    listen: listen.default({ host: '0.0.0.0', port: 8080 }),
    body_limit: bytes.default(16 * 1024 * 1024),
    timeouts: z
      .strictObject({
        connect: duration.default(2000),
        first_byte: duration.default(60_000),
        idle: duration.default(30_000),
        total: duration.default(600_000),
      })
      .prefault({}),
    drain: duration.default(30_000),
    /** Connections kept per backend. */
    connections: z.number().int().min(1).max(4096).default(128),
  })
  .prefault({});

export const simSchema = z.strictObject({
  replicas: z.number().int().min(1).max(64).default(2),
  model: modelName.default('sim-llama-8b'),
  personality: z.enum(['vllm', 'sglang', 'tgi', 'llamacpp']).default('vllm'),
  engine: z.enum(['simple', 'fast', 'vllm']).default('simple'),
  time_scale: z.number().positive().max(100).default(1),
  base_port: z.number().int().min(0).max(65535).default(0),
  policy: z.enum(POLICIES).optional(),
});

export const telemetrySchema = z
  .strictObject({
    metrics: z.boolean().default(true),
    tracing: z.union([z.boolean(), z.literal('auto')]).default('auto'),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    log_pretty: z.boolean().default(false),
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    ...governanceShape,
    server: serverSchema,
    models: z.array(modelSchema).default([]),
    sim: simSchema.optional(),
    telemetry: telemetrySchema,
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
    if (cfg.models.length === 0 && !cfg.sim) {
      ctx.addIssue({ code: 'custom', path: ['models'], message: 'configure at least one model (or a `sim` section)' });
    }
  });

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type BackendConfig = z.output<typeof backendSchema>;
export type ModelConfig = z.output<typeof modelSchema>;
export type SimConfig = z.output<typeof simSchema>;
