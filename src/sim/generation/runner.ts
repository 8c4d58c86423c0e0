/**
 * Drives one generation request through the engine and onto the wire: one engine request per choice, tokens written
 * as the engine releases them (optionally re-paced by `token_delay_ms`), faults applied at their chunk counts, and
 * the engine told at once when the client goes away (so the simulated GPU time is freed, as in a real backend).
 */
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { EngineCallbacks, EngineFinish, Scheduler, SimEngine } from '../engine/types.js';
import { observe, type FrontStats } from '../front-stats.js';
import { runPreamble } from '../http/fault-preamble.js';
import { SSE_HEADERS, sendError, sendJson } from '../http/io.js';
import { SseWriter } from '../http/sse-writer.js';
import { generationErrorStatus, renderError, renderStreamError } from '../personality/errors.js';
import type { Personality, SimFault } from '../types.js';
import type { ChoicePlan } from './plan.js';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cached_tokens: number;
}

/** Endpoint-specific wire format (chat vs completions). Frames are complete `data: ...\n\n` strings. */
export interface Renderer {
  tokenFrames(choice: ChoicePlan, tokenIndex: number, usage: Usage | null): string;
  /** The choice's finish chunk; with usage, that usage rides on it (SimFault.usage_on_final_chunk). */
  finishFrames(choice: ChoicePlan, usage?: Usage | null): string;
  usageFrame(usage: Usage): string;
  body(choices: readonly ChoicePlan[], usage: Usage): string;
  /** The stream's last frame; default `data: [DONE]` (the Responses and Messages APIs end with a typed event instead). */
  doneFrame?: string;
}

export interface GenerationJob {
  id: string;
  prompts: readonly ArrayLike<number>[];
  choices: readonly ChoicePlan[];
  stream: boolean;
  includeUsage: boolean;
  continuousUsage: boolean;
  fault: SimFault;
  renderer: Renderer;
}

export interface RunnerEnv {
  personality: Personality;
  engine: SimEngine;
  scheduler: Scheduler;
  stats: FrontStats;
}

/** Shared with the server: set when the simulator itself closes the connection, which is not a client abort. */
export interface ResponseScope {
  serverClosed: boolean;
}

interface ChoiceState {
  readonly plan: ChoicePlan;
  readonly engineId: string;
  /** Tokens the engine has released / tokens written. */
  available: number;
  emitted: number;
  submitted: boolean;
  engineDone: boolean;
  finishWritten: boolean;
  completionTokens: number;
  cachedTokens: number;
  submittedAt: number;
  firstAt: number;
  lastAt: number;
  pacer: NodeJS.Timeout | undefined;
  lastEmitReal: number;
}

export function runGeneration(env: RunnerEnv, job: GenerationJob, res: ServerResponse, scope: ResponseScope): void {
  const { engine, scheduler, stats, personality } = env;
  const { fault, renderer, stream } = job;
  const delay = fault.token_delay_ms ?? 0;
  const writer = new SseWriter(res);
  const states: ChoiceState[] = job.choices.map((plan) => ({
    plan,
    engineId: `${job.id}-${plan.index}`,
    available: 0,
    emitted: 0,
    submitted: false,
    engineDone: false,
    finishWritten: false,
    completionTokens: 0,
    cachedTokens: 0,
    submittedAt: 0,
    firstAt: 0,
    lastAt: 0,
    pacer: undefined,
    lastEmitReal: -Infinity,
  }));
  let contentChunks = 0;
  let halted = false;
  let closed = false;
  let completed = false;
  const usageOnFinal = stream && job.includeUsage && fault.usage_on_final_chunk === true;
  stats.requests++;

  function usage(final: boolean): Usage {
    let prompt = 0;
    for (const p of job.prompts) prompt += p.length;
    let completion = 0;
    let cached = 0;
    const seen = new Set<number>();
    for (const s of states) {
      completion += final ? s.completionTokens : s.emitted;
      if (!seen.has(s.plan.promptIndex)) {
        seen.add(s.plan.promptIndex);
        cached += s.cachedTokens;
      }
    }
    return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, cached_tokens: cached };
  }

  /** Stops all output and frees the engine; our own cancellations are then ignored in onFinish. */
  function halt(): void {
    if (halted) return;
    halted = true;
    for (const s of states) {
      if (s.pacer) clearTimeout(s.pacer);
      s.pacer = undefined;
      if (s.submitted && !s.engineDone) engine.cancel(s.engineId);
    }
  }

  /** Closes the connection without finishing the response, after flushing what was already written (so the client
   *  sees exactly the chunks before the drop, then a connection closed mid-body). */
  function dropConnection(): void {
    scope.serverClosed = true;
    halt();
    const socket = res.socket;
    if (socket && !socket.destroyed) socket.end(() => socket.destroy());
    else res.destroy();
  }

  /** Stream faults fire right after the n-th content chunk (n = 0: right after the headers). */
  function streamFaultFired(): boolean {
    if (fault.drop_after_chunks === contentChunks) dropConnection();
    else if (fault.stall_after_chunks === contentChunks) halt();
    else if (fault.error_after_chunks === contentChunks) {
      halt();
      writer.end(renderStreamError(personality, generationErrorStatus(personality), fault.message ?? 'Simulated generation error'));
    } else return false;
    return true;
  }

  function emitOne(s: ChoiceState): void {
    const i = s.emitted++;
    contentChunks++;
    if (!stream) return;
    writer.write(renderer.tokenFrames(s.plan, i, job.continuousUsage ? usage(false) : null));
    streamFaultFired();
  }

  function progress(s: ChoiceState): void {
    if (halted || closed) return;
    if (delay > 0) {
      if (s.pacer || s.emitted >= s.available) return afterProgress(s);
      const wait = s.lastEmitReal + delay - performance.now();
      if (wait > 0) {
        s.pacer = setTimeout(() => {
          s.pacer = undefined;
          progress(s);
        }, wait);
        return;
      }
      s.lastEmitReal = performance.now();
      emitOne(s);
      return progress(s);
    }
    while (s.emitted < s.available && !halted && !closed) emitOne(s);
    afterProgress(s);
  }

  function afterProgress(s: ChoiceState): void {
    if (halted || closed || !s.engineDone || s.emitted < s.available || s.finishWritten) return;
    s.finishWritten = true;
    // The last choice's finish chunk carries the usage when the backend imitated sends it there (older llama.cpp).
    const usageHere = usageOnFinal && states.every((x) => x.finishWritten) ? usage(true) : null;
    if (stream) writer.write(renderer.finishFrames(s.plan, usageHere));
    if (states.every((x) => x.finishWritten)) complete();
  }

  function complete(): void {
    if (completed) return;
    completed = true;
    const u = usage(true);
    if (stream) {
      writer.end(`${job.includeUsage && !usageOnFinal ? renderer.usageFrame(u) : ''}${renderer.doneFrame ?? 'data: [DONE]\n\n'}`);
      return;
    }
    // Non-streaming: a mid-response fault whose chunk count was reached fails the whole response.
    if (fault.drop_after_chunks !== undefined && contentChunks >= fault.drop_after_chunks) return dropConnection();
    if (fault.stall_after_chunks !== undefined && contentChunks >= fault.stall_after_chunks) return halt();
    if (fault.error_after_chunks !== undefined && contentChunks >= fault.error_after_chunks) {
      halt();
      const msg = fault.message ?? 'Simulated generation error';
      return sendError(res, renderError(personality, generationErrorStatus(personality), msg));
    }
    sendJson(res, 200, renderer.body(job.choices, u));
  }

  function record(s: ChoiceState, f: EngineFinish): void {
    const now = scheduler.now();
    observe(stats.e2e, (now - s.submittedAt) / 1000);
    if (f.completionTokens > 1) observe(stats.tpot, (s.lastAt - s.firstAt) / 1000 / (f.completionTokens - 1));
    observe(stats.promptTokens, f.promptTokens);
    observe(stats.generationTokens, f.completionTokens);
    stats.cachedTokens += f.cachedTokens;
    stats.maxRequestTokens = Math.max(stats.maxRequestTokens, f.promptTokens + f.completionTokens);
    if (s.plan.finishReason === 'length') stats.finished.length++;
    else stats.finished.stop++;
  }

  function callbacksFor(s: ChoiceState): EngineCallbacks {
    return {
      onToken(index) {
        const now = scheduler.now();
        if (index === 0) {
          s.firstAt = now;
          observe(stats.ttft, (now - s.submittedAt) / 1000);
        } else observe(stats.itl, (now - s.lastAt) / 1000);
        s.lastAt = now;
        s.available = Math.min(index + 1, Math.max(1, s.plan.pieces.length));
        progress(s);
      },
      onFinish(f) {
        s.engineDone = true;
        if (f.reason === 'cancelled') {
          if (halted || closed) return;
          // Not cancelled by us: the engine restarted. A real backend's connections die with it.
          stats.finished.abort++;
          return dropConnection();
        }
        s.completionTokens = f.completionTokens;
        s.cachedTokens = f.cachedTokens;
        record(s, f);
        progress(s);
      },
    };
  }

  /** Submits every choice; an engine that refuses one (e.g. it can never fit the KV cache) fails the request with 400. */
  function submitAll(): boolean {
    for (const s of states) {
      s.submittedAt = scheduler.now();
      s.submitted = true;
      const promptTokenIds = job.prompts[s.plan.promptIndex] ?? [];
      try {
        // At least one token: a stop string matched at the very start still costs the engine one step, as in vLLM.
        engine.submit({ id: s.engineId, promptTokenIds, outputTokens: Math.max(1, s.plan.pieces.length) }, callbacksFor(s));
      } catch (err) {
        s.submitted = false;
        halt();
        sendError(res, renderError(personality, 400, (err as Error).message ?? 'request rejected by the engine'));
        return false;
      }
      if (halted || closed) return false;
    }
    return true;
  }

  function begin(): void {
    // Submit before the headers, so an engine's refusal is still an ordinary HTTP error; engines never emit tokens
    // synchronously from submit(), so no token can race the headers.
    if (!submitAll() || !stream) return;
    res.writeHead(200, SSE_HEADERS);
    res.flushHeaders();
    streamFaultFired();
  }

  res.on('close', () => {
    closed = true;
    if (completed && states.every((s) => s.engineDone)) return;
    if (!halted && states.some((s) => s.submitted && !s.engineDone)) stats.finished.abort++;
    halt();
  });

  runPreamble(fault, res, personality, begin);
}
