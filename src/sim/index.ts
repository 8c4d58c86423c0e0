/**
 * The simulator's public face: an OpenAI-compatible backend standing in for vLLM / SGLang / TGI / llama.cpp.
 * Used by the embedded quick-start default, the tests and the benchmarks; never imported by gateway runtime code
 * except main.ts's embedded default.
 */
export { startSim, startSimFleet } from './server.js';
export { startSimKvEvents, type SimKvEvents, type SimKvEventsOptions } from './kv-events.js';
export { createRealtimeScheduler } from './scheduler.js';
export { createSimpleEngine, type SimpleEngineOptions } from './engine/simple.js';
export { FAULT_HEADER, parseFaultHeader } from './faults.js';
export { tokenize, countTokens } from './text/tokenizer.js';
export { ENGINE_NAMES, PERSONALITIES } from './types.js';
export type { EngineName, Personality, SimFault, SimLogEntry, SimOptions, SimRequestLog, SimServer } from './types.js';
export type {
  EngineCallbacks,
  EngineFinish,
  EngineRequest,
  EngineSnapshot,
  Scheduler,
  SchedulerHandle,
  SimEngine,
} from './engine/types.js';
