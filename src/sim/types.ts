/**
 * The simulator's public types. The gateway's tests, the embedded quick-start default and the benchmarks code against
 * these; keep them stable and additive.
 */
import type { Scheduler, SimEngine } from './engine/types.js';

/** Which real engine an instance imitates: its error shapes, metric names, `owned_by` and stream-error framing. */
export type Personality = 'vllm' | 'sglang' | 'tgi' | 'llamacpp';
export const PERSONALITIES: readonly Personality[] = ['vllm', 'sglang', 'tgi', 'llamacpp'];

export type EngineName = 'simple' | 'fast' | 'vllm';
export const ENGINE_NAMES: readonly EngineName[] = ['simple', 'fast', 'vllm'];

/**
 * Fault injection. Per request with the header `x-sim-fault: status=503,drop_after_chunks=3` (comma list of k=v,
 * values URL-decoded) or the JSON body field `sim_fault: {...}`; for every request with `SimOptions.fault`,
 * `server.setFault()` or `POST /sim/fault`. Layers merge key by key: header over body over server-wide.
 * Delays are real milliseconds (never scaled by timeScale), so gateway timeouts can be tested directly.
 */
export interface SimFault {
  /** Answer with this status (after `stall_before_first_ms`), in the personality's error shape. */
  status?: number;
  /** Error message; a message starting with `text:` is sent as a `text/plain` body (the rest of the string). */
  message?: string;
  /** Delay before response headers and first byte (non-stream: before the response). */
  stall_before_first_ms?: number;
  /** Stream: after n content chunks stop writing forever (socket kept open) until the client aborts. */
  stall_after_chunks?: number;
  /** Stream: after n content chunks destroy the socket (no `[DONE]`). */
  drop_after_chunks?: number;
  /** Stream: after n content chunks send an error event in the personality's shape, then end. */
  error_after_chunks?: number;
  /** Overrides the inter-token latency, in real ms. */
  token_delay_ms?: number;
  /** `/health` answers 503. */
  refuse?: boolean;
  /**
   * Stream with `include_usage`: usage rides on the last chunk that carries a choice (its finish_reason) instead of a
   * chunk of its own with `choices: []`, as older llama.cpp builds send it (chat and completions).
   */
  usage_on_final_chunk?: boolean;
}

export interface SimOptions {
  /** Default 0 (an ephemeral port). */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Served model id, default 'sim-llama-8b'. */
  model?: string;
  /** More model ids this instance also accepts (and lists in /v1/models). */
  extraModels?: string[];
  /** Default 'vllm'. */
  personality?: Personality;
  /** Default 'simple'. Ignored when `createEngine` is given. */
  engine?: EngineName;
  /** Plugs in any engine; takes precedence over `engine`. */
  createEngine?: (scheduler: Scheduler) => SimEngine;
  /** Simulated ms × timeScale = real ms. Default 1. */
  timeScale?: number;
  /** Simple engine base time to first token, simulated ms. Default 40. */
  ttftMs?: number;
  /** Simple engine base inter-token latency, simulated ms. Default 8. */
  itlMs?: number;
  /** Per-instance speed multiplier (heterogeneous fleets). Default 1. */
  speed?: number;
  /** KV capacity in 16-token blocks. Default 29205 (Llama-3.1-8B on one H100). */
  kvBlocks?: number;
  /** Requests running at once before the rest wait: simple engine default 256; the vllm engine's max_num_seqs. */
  maxRunning?: number;
  /** Prompt length limit (prompt + max_tokens must fit); over it is a 400. Default 32768. */
  maxModelLen?: number;
  /** Output length when neither max_tokens nor a stop string ends it first. Default 16. */
  naturalTokens?: number;
  /** Default true. false: `encoding_format: "base64"` is a 400 (like backends without it). */
  base64Embeddings?: boolean;
  /** Default 32. */
  embeddingDim?: number;
  /** Server-wide fault applied to every request. */
  fault?: SimFault;
  /** 'fast' engine: tokens in the fixed response. Default 16. */
  fastResponseTokens?: number;
  /** Seeds the generated text; the same request gives the same text on every instance with the same seed. */
  seed?: number;
  /**
   * vLLM personality: keep Responses API objects so `GET /v1/responses/{id}` and `previous_response_id` work, as vLLM
   * does with VLLM_ENABLE_RESPONSES_API_STORE=1. Default false: like vLLM then, `store: true` is quietly turned off
   * (the response says `store: false`).
   */
  storeResponses?: boolean;
  /** Default true. false turns the request log off (benchmarks). */
  log?: boolean;
  /**
   * vllm engine: publish KV-cache events as vLLM does with `--kv-events-config` (ZeroMQ PUB + replay ROUTER, msgpack
   * KVEventBatch; see kv-events.ts). Endpoints default to free ports on 127.0.0.1 (read them from `kvEvents`).
   */
  kvEvents?: { endpoint?: string; replayEndpoint?: string | null; topic?: string; bufferSteps?: number };
}

export interface SimLogEntry {
  id: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  rawBody: string;
  /** Epoch ms. */
  receivedAt: number;
  /** The client closed the connection before the response completed. */
  aborted: boolean;
  /** The response completed normally. */
  finished: boolean;
}

export interface SimRequestLog {
  /** Oldest first, at most the last 1000 requests. */
  readonly entries: SimLogEntry[];
  clear(): void;
  /** Resolves with the first entry (existing or future) that satisfies pred; rejects after timeoutMs (default 2000). */
  waitFor(pred: (e: SimLogEntry) => boolean, timeoutMs?: number): Promise<SimLogEntry>;
}

export interface SimServer {
  /** 'http://127.0.0.1:PORT' */
  readonly url: string;
  readonly port: number;
  readonly personality: Personality;
  /** The KV-events endpoints when `kvEvents` was asked for, else null. */
  readonly kvEvents: { readonly endpoint: string; readonly replayEndpoint: string | null; readonly stats: { batches: number; bytes: number; stored: number; removed: number } } | null;
  readonly log: SimRequestLog;
  setFault(fault: SimFault | null): void;
  /** Like a backend restart: drops in-flight requests (their connections are destroyed) and flushes the cache. */
  restart(): void;
  /** Closes the server and every socket. */
  close(): Promise<void>;
}
