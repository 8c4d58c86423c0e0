/**
 * Starting and stopping simulator instances: one node:http server per instance, each with its own engine, scheduler,
 * request log and fault switch, so a fleet in one process behaves like separate backends.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createIdSource, type SimContext } from './context.js';
import { resolveEngineFactory } from './engine/factory.js';
import { createFrontStats } from './front-stats.js';
import { normalizeFault } from './faults.js';
import { createRequestLog } from './request-log.js';
import { createFastResponder } from './routes/fast.js';
import { createRequestHandler } from './router.js';
import { createRealtimeScheduler } from './scheduler.js';
import { startSimKvEvents, type SimKvEvents } from './kv-events.js';
import { PERSONALITIES, type SimFault, type SimOptions, type SimServer } from './types.js';

const DEFAULT_KV_BLOCKS = 29205;

export async function startSim(options: SimOptions = {}): Promise<SimServer> {
  const personality = options.personality ?? 'vllm';
  if (!PERSONALITIES.includes(personality)) throw new Error(`unknown personality ${String(personality)}`);
  const model = options.model ?? 'sim-llama-8b';
  const kvBlocks = options.kvBlocks ?? DEFAULT_KV_BLOCKS;
  const scheduler = createRealtimeScheduler(options.timeScale ?? 1);
  if (options.kvEvents && options.engine !== 'vllm') throw new Error('kvEvents needs engine: vllm (the engine with a prefix cache)');
  // vLLM's block size (16 tokens), which the engine uses by default.
  const kvEvents: SimKvEvents | null = options.kvEvents ? await startSimKvEvents({ blockSize: 16, ...options.kvEvents }) : null;
  const factory = await resolveEngineFactory({
    engine: options.engine,
    createEngine: options.createEngine,
    ttftMs: options.ttftMs,
    itlMs: options.itlMs,
    speed: options.speed,
    kvBlocks,
    maxRunning: options.maxRunning,
    seed: options.seed,
    ...(kvEvents ? { kvEvents } : {}),
  });
  const engine = factory ? factory(scheduler) : null;
  const ctx: SimContext = {
    personality,
    model,
    models: [model, ...(options.extraModels ?? []).filter((m) => m !== model)],
    seed: (options.seed ?? 0) >>> 0,
    naturalTokens: options.naturalTokens ?? 16,
    maxModelLen: options.maxModelLen ?? 32768,
    embeddingDim: options.embeddingDim ?? 32,
    base64Embeddings: options.base64Embeddings ?? true,
    engine,
    scheduler,
    stats: createFrontStats(),
    startedAtSec: Math.floor(Date.now() / 1000),
    responseStore: options.storeResponses ? new Map() : null,
    nextId: createIdSource(),
  };
  const log = options.log === false ? null : createRequestLog();
  let fault: SimFault | null = options.fault ? normalizeFault(options.fault) : null;
  const restart = (): void => engine?.restart();

  const server = createServer(
    createRequestHandler({
      ctx,
      log,
      fast: engine ? null : createFastResponder({ model, personality, tokens: options.fastResponseTokens ?? 16 }),
      kvBlocks,
      getFault: () => fault,
      setFault: (f) => {
        fault = f;
      },
      restart,
    }),
  );
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const emptyLog = createRequestLog();

  return {
    url: `http://${urlHost}:${port}`,
    port,
    personality,
    kvEvents: kvEvents ? { endpoint: kvEvents.endpoint, replayEndpoint: kvEvents.replayEndpoint, stats: kvEvents.stats } : null,
    log: log ?? emptyLog,
    setFault(f) {
      fault = f ? normalizeFault(f) : null;
    },
    restart,
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Destroying the sockets fires every in-flight response's 'close', which cancels its engine requests.
        server.closeAllConnections();
        engine?.restart();
      }).then(() => kvEvents?.close());
    },
  };
}

/** `count` instances; with basePort 0 (the default) each listens on an ephemeral port, else on basePort + i. */
export async function startSimFleet(count: number, options: SimOptions & { basePort?: number } = {}): Promise<SimServer[]> {
  const { basePort, ...rest } = options;
  // A plain `port` is read as the base port too, so that a fleet never asks for the same port twice.
  const base = basePort || rest.port || 0;
  const settled = await Promise.allSettled(
    Array.from({ length: count }, (_, i) => startSim({ ...rest, port: base ? base + i : 0 })),
  );
  const started = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((s) => s.close()));
    throw failed.reason;
  }
  return started;
}
