import OpenAI from 'openai';
import { startGateway, silentLogger, type Gateway, type GatewayOptions } from '../../src/server/index.js';
import { createTelemetry } from '../../src/telemetry/index.js';
import { startSim, type SimOptions, type SimServer } from '../../src/sim/index.js';

export { assertMatchesSpec } from './openapi.js';

/** Test sims run 50x faster than real time so latency-shaped tests stay quick. */
export const FAST = 0.02;

export async function startSims(count: number, options: SimOptions = {}): Promise<SimServer[]> {
  return Promise.all(Array.from({ length: count }, () => startSim({ port: 0, timeScale: FAST, ...options })));
}

export interface BackendSpec {
  url: string;
  name?: string;
  kind?: string;
  model?: string;
  weight?: number;
  embeddings_base64?: boolean;
}

export interface ModelSpec {
  name: string;
  backends: BackendSpec[];
  aliases?: string[];
  policy?: string;
  fallback?: string[];
  retries?: number;
  output_reserve?: number;
}

/** Builds YAML for a gateway on port 0 in front of the given models; `auth: none` unless `extra` says otherwise. */
export function configYaml(models: ModelSpec[], server: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): string {
  const doc = { auth: 'none', server: { listen: '127.0.0.1:0', ...server }, models, ...extra };
  return JSON.stringify(doc, null, 2); // JSON is YAML
}

export async function startTestGateway(
  models: ModelSpec[],
  extra: Partial<GatewayOptions> & { server?: Record<string, unknown>; sections?: Record<string, unknown> } = {},
): Promise<Gateway> {
  const { server, sections, ...rest } = extra;
  return startGateway({
    configText: configYaml(models, server, sections),
    logger: silentLogger,
    telemetry: createTelemetry({ tracing: false, log: { level: 'silent' }, processMetrics: false }),
    watch: false,
    listen: { host: '127.0.0.1', port: 0 },
    ...rest,
  });
}

export function client(gw: Gateway, options: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}): OpenAI {
  return new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'test-key', maxRetries: 0, timeout: 20_000, ...options });
}

/** Polls until fn returns a truthy value (or stops throwing), instead of sleeping a guessed time. */
export async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 5000, stepMs = 20): Promise<T> {
  const end = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      lastErr = new Error('condition still false');
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > end) throw lastErr;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Reads a raw SSE response into its data payloads (for framing checks without an SDK). */
export async function readSse(res: Response): Promise<string[]> {
  const text = await res.text();
  return text
    .split(/\r?\n\r?\n/)
    .filter((e) => e.trim() !== '')
    .map((e) =>
      e
        .split(/\r?\n/)
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trimStart())
        .join('\n'),
    );
}

export async function closeAll(...things: Array<{ close(): Promise<void> } | undefined>): Promise<void> {
  await Promise.all(things.map((t) => t?.close()));
}
