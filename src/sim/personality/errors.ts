/**
 * Error bodies in each engine's own shape, so the gateway's normalisation is tested against what real backends send:
 * - vllm (current):   {"error":{"message","type":"BadRequestError","param":null,"code":400}}
 * - sglang (and older vLLM): {"object":"error","message","type","param":null,"code":400}
 * - tgi:              {"error":"...","error_type":"validation"}, validation errors are 422, generation errors 424
 * - llamacpp:         {"error":{"code":400,"message","type":"invalid_request_error"}}
 * A message starting with `text:` is sent as a plain-text body instead (what some proxies in front of engines do).
 */
import { STATUS_CODES } from 'node:http';
import type { Personality } from '../types.js';

/** Thrown by routes; the server renders it in the instance's personality. */
export class SimHttpError extends Error {
  readonly status: number;
  readonly param: string | null;
  constructor(status: number, message: string, param: string | null = null) {
    super(message);
    this.name = 'SimHttpError';
    this.status = status;
    this.param = param;
  }
}

export interface RenderedError {
  status: number;
  contentType: string;
  body: string;
}

const TEXT_PREFIX = 'text:';

/** vLLM and SGLang name the type after the HTTP status phrase: 400 → BadRequestError. */
function phraseType(status: number): string {
  const phrase = STATUS_CODES[status] ?? (status >= 500 ? 'Internal Server Error' : 'Bad Request');
  const name = phrase.replace(/[^A-Za-z]/g, '');
  return name.endsWith('Error') ? name : `${name}Error`;
}

function tgiType(status: number): string {
  if (status === 429 || status === 503) return 'overloaded';
  if (status === 404) return 'not_found';
  if (status >= 500 || status === 424) return 'generation';
  return 'validation';
}

function llamacppType(status: number): string {
  switch (status) {
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 501:
      return 'not_supported_error';
    case 503:
      return 'unavailable_error';
    default:
      return status >= 500 ? 'server_error' : 'invalid_request_error';
  }
}

function errorJson(personality: Personality, status: number, message: string, param: string | null): string {
  switch (personality) {
    case 'vllm':
      return JSON.stringify({ error: { message, type: phraseType(status), param, code: status } });
    case 'sglang':
      return JSON.stringify({ object: 'error', message, type: phraseType(status), param, code: status });
    case 'tgi':
      return JSON.stringify({ error: message, error_type: tgiType(status) });
    case 'llamacpp':
      return JSON.stringify({ error: { code: status, message, type: llamacppType(status) } });
  }
}

/** TGI answers request validation failures with 422 where the others use 400. */
function personalityStatus(personality: Personality, status: number): number {
  return personality === 'tgi' && status === 400 ? 422 : status;
}

export function renderError(personality: Personality, status: number, message: string, param: string | null = null): RenderedError {
  if (message.startsWith(TEXT_PREFIX)) {
    return { status, contentType: 'text/plain; charset=utf-8', body: message.slice(TEXT_PREFIX.length) };
  }
  const s = personalityStatus(personality, status);
  return { status: s, contentType: 'application/json', body: errorJson(personality, s, message, param) };
}

/** The status a failure during generation gets (a mid-response error on a non-streaming request). */
export function generationErrorStatus(personality: Personality): number {
  return personality === 'tgi' ? 424 : 500;
}

/**
 * The SSE frames for an error after the stream started. vLLM and SGLang follow the error event with `[DONE]`;
 * TGI and llama.cpp just end the stream.
 */
export function renderStreamError(personality: Personality, status: number, message: string): string {
  const text = message.startsWith(TEXT_PREFIX) ? message.slice(TEXT_PREFIX.length) : message;
  const frame = `data: ${errorJson(personality, status, text, null)}\n\n`;
  return personality === 'vllm' || personality === 'sglang' ? `${frame}data: [DONE]\n\n` : frame;
}
