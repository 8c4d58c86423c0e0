/**
 * Engine selection by name. The vLLM-faithful engine lives in ./vllm.ts (written separately); it is loaded lazily so
 * the simulator works whether or not that file exists yet, and so the simple path never pays for loading it.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { EngineName } from '../types.js';
import type { KvEventSink } from './vllm/kv-event-sink.js';
import { createSimpleEngine } from './simple.js';
import type { Scheduler, SimEngine } from './types.js';

export type EngineFactory = (scheduler: Scheduler) => SimEngine;

export interface EngineSelection {
  engine?: EngineName;
  createEngine?: EngineFactory;
  ttftMs?: number;
  itlMs?: number;
  speed?: number;
  kvBlocks?: number;
  maxRunning?: number;
  seed?: number;
  /** vllm engine: where its KV-cache events go (the simulator's ZeroMQ publisher). */
  kvEvents?: KvEventSink;
}

/** What the vLLM engine module must export; options it does not know it ignores. */
type VllmFactoryOptions = { speed?: number; kvBlocks?: number; seed?: number; maxNumSeqs?: number; kvEvents?: KvEventSink };
type VllmFactory = (scheduler: Scheduler, options: VllmFactoryOptions) => SimEngine;

/** Returns null for 'fast', which answers from precomputed buffers without any engine. */
export async function resolveEngineFactory(sel: EngineSelection): Promise<EngineFactory | null> {
  if (sel.createEngine) return sel.createEngine;
  const name = sel.engine ?? 'simple';
  switch (name) {
    case 'fast':
      return null;
    case 'simple': {
      const opts = { ttftMs: sel.ttftMs, itlMs: sel.itlMs, speed: sel.speed, kvBlocks: sel.kvBlocks, maxRunning: sel.maxRunning };
      return (scheduler) => createSimpleEngine(scheduler, opts);
    }
    case 'vllm': {
      const create = await loadVllmFactory();
      const opts: VllmFactoryOptions = {};
      if (sel.speed !== undefined) opts.speed = sel.speed;
      if (sel.kvBlocks !== undefined) opts.kvBlocks = sel.kvBlocks;
      if (sel.seed !== undefined) opts.seed = sel.seed;
      if (sel.maxRunning !== undefined) opts.maxNumSeqs = sel.maxRunning;
      if (sel.kvEvents !== undefined) opts.kvEvents = sel.kvEvents;
      return (scheduler) => create(scheduler, opts);
    }
    default:
      throw new Error(`unknown engine ${String(name)} (expected simple, fast or vllm)`);
  }
}

async function loadVllmFactory(): Promise<VllmFactory> {
  const jsUrl = new URL('./vllm.js', import.meta.url);
  const tsPath = fileURLToPath(new URL('./vllm.ts', import.meta.url));
  if (!existsSync(fileURLToPath(jsUrl)) && !existsSync(tsPath)) throw new Error('engine vllm not available');
  // A computed specifier keeps tsc from requiring the module at compile time; tsx maps .js to .ts at run time.
  const specifier: string = jsUrl.href;
  const mod: unknown = await import(specifier);
  const create = typeof mod === 'object' && mod !== null ? (mod as Record<string, unknown>)['createVllmEngine'] : undefined;
  if (typeof create !== 'function') throw new Error('engine vllm not available: src/sim/engine/vllm does not export createVllmEngine');
  return create as VllmFactory;
}
