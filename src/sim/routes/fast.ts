/**
 * The 'fast' engine: a fixed response from buffers serialised once at start, with no timers, no engine and no JSON
 * parsing, so that in overhead benchmarks the gateway, not the backend, is what is measured. The only per-request
 * work is a substring test for `"stream": true` and `"include_usage": true`. Faults before the first byte (stall,
 * status) still apply; mid-stream faults do not.
 */
import type { ServerResponse } from 'node:http';
import { SSE_HEADERS } from '../http/io.js';
import { generatePieces } from '../text/generator.js';
import type { Personality } from '../types.js';

export interface FastResponderOptions {
  model: string;
  personality: Personality;
  tokens: number;
}

export type FastKind = 'chat' | 'completions';

interface Prepared {
  body: Buffer;
  bodyHeaders: Record<string, string | number>;
  chunks: Buffer[];
  usageChunk: Buffer;
}

export interface FastResponder {
  respond(kind: FastKind, rawBody: string, res: ServerResponse): void;
}

const STREAM_TRUE = /"stream"\s*:\s*true/;
const INCLUDE_USAGE_TRUE = /"include_usage"\s*:\s*true/;
const PROMPT_TOKENS = 8;
const DONE = Buffer.from('data: [DONE]\n\n');

function usage(personality: Personality, completion: number): Record<string, unknown> {
  const u: Record<string, unknown> = { prompt_tokens: PROMPT_TOKENS, total_tokens: PROMPT_TOKENS + completion, completion_tokens: completion };
  if (personality === 'vllm') u['prompt_tokens_details'] = { cached_tokens: 0 };
  return u;
}

function prepare(kind: FastKind, o: FastResponderOptions, pieces: string[]): Prepared {
  const created = Math.floor(Date.now() / 1000);
  const id = kind === 'chat' ? 'chatcmpl-sim-fast' : 'cmpl-sim-fast';
  const head = { id, object: kind === 'chat' ? 'chat.completion' : 'text_completion', created, model: o.model };
  const chunkHead = { ...head, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion' };
  const text = pieces.join('');
  const u = usage(o.personality, pieces.length);
  const choice =
    kind === 'chat'
      ? { index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: 'stop' }
      : { index: 0, text, logprobs: null, finish_reason: 'stop' };
  const body = Buffer.from(JSON.stringify({ ...head, choices: [choice], usage: u }));
  const sse = (value: unknown): Buffer => Buffer.from(`data: ${JSON.stringify(value)}\n\n`);
  const chunk = (c: Record<string, unknown>): Buffer => sse({ ...chunkHead, choices: [{ index: 0, logprobs: null, ...c }] });
  const chunks: Buffer[] = [];
  if (kind === 'chat') {
    chunks.push(chunk({ delta: { role: 'assistant', content: '' }, finish_reason: null }));
    for (const p of pieces) chunks.push(chunk({ delta: { content: p }, finish_reason: null }));
    chunks.push(chunk({ delta: {}, finish_reason: 'stop' }));
  } else {
    for (const p of pieces) chunks.push(chunk({ text: p, finish_reason: null }));
    chunks.push(chunk({ text: '', finish_reason: 'stop' }));
  }
  return {
    body,
    bodyHeaders: { 'content-type': 'application/json', 'content-length': body.length },
    chunks,
    usageChunk: sse({ ...chunkHead, choices: [], usage: u }),
  };
}

export function createFastResponder(o: FastResponderOptions): FastResponder {
  const pieces = generatePieces(0x5eed, o.tokens);
  const prepared: Record<FastKind, Prepared> = { chat: prepare('chat', o, pieces), completions: prepare('completions', o, pieces) };
  return {
    respond(kind, rawBody, res) {
      const p = prepared[kind];
      if (!STREAM_TRUE.test(rawBody)) {
        res.writeHead(200, p.bodyHeaders);
        res.end(p.body);
        return;
      }
      res.writeHead(200, SSE_HEADERS);
      for (const c of p.chunks) res.write(c);
      if (INCLUDE_USAGE_TRUE.test(rawBody)) res.write(p.usageChunk);
      res.end(DONE);
    },
  };
}
