import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { pino } from 'pino';
import type { DestinationStream, Level, Logger } from 'pino';
import type { RequestCtx } from '../core/index.js';
import { batchBytesFor, createLineBuffer, type LineBuffer } from './line-buffer.js';
import { writeRequestLine } from './request-line-bytes.js';
import { jsonString, twoDecimals } from './log-format.js';
import type { LogOptions } from './types.js';

/**
 * Paths pino blanks in non-request logs, as a second line of defence: config objects logged on reload may carry
 * secrets. Request lines never need it, they are built field by field from RequestCtx, which holds no secret or prompt.
 */
const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  'apiKey',
  '*.apiKey',
  'api_key',
  '*.api_key',
  'secret',
  '*.secret',
  'password',
  '*.password',
  'token',
  '*.token',
];

export interface Loggers {
  /** For everything but request lines; redacts the paths above. */
  readonly general: Logger;
  /** Writes one request line already serialised (pino's own line format), or null when pino must do it (pretty). */
  readonly writeLine: ((line: string) => void) | null;
  /** What follows the time in a hand-built line: `,"pid":..,"hostname":..,"name":..,"request_id":`. */
  readonly afterTime: string;
  readonly afterTimeBytes: Buffer;
  /** The batch lines gather in when they go to a file descriptor: request lines are written into it in place. */
  readonly lines: LineBuffer | null;
  /** Request lines only: no redaction pass, which would cost several microseconds per request. */
  readonly requests: Logger;
  setLevel(level: string): void;
  /** Writes out buffered lines. */
  flush(): Promise<void>;
}

export function createLoggers(options: LogOptions | undefined, serviceName: string): Loggers {
  const level = options?.level ?? 'info';
  const dest = options?.destination ?? 1;
  let warning: string | null = null;
  let stream: DestinationStream;
  let lines: LineBuffer | null = null;
  if (options?.pretty === true && prettyAvailable()) {
    stream = pino.transport({ target: 'pino-pretty', options: { destination: typeof dest === 'number' ? dest : 1 } });
  } else {
    if (options?.pretty === true) warning = 'log.pretty is set but pino-pretty is not installed; writing JSON';
    if (typeof dest === 'number') stream = lines = fdDestination(dest, options?.sharedOutput === true);
    else stream = dest;
  }
  const requests = pino({ level, name: serviceName }, stream);
  const general = requests.child({}, { redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
  if (warning !== null) general.warn({ event: 'log_pretty_unavailable' }, warning);
  const direct = options?.pretty === true && prettyAvailable() ? null : (stream as { write(s: string): unknown });
  const afterTime = `,"pid":${process.pid},"hostname":${JSON.stringify(hostname())},"name":${JSON.stringify(serviceName)},"request_id":`;
  return {
    general,
    writeLine: direct ? (line) => void direct.write(line) : null,
    afterTime,
    afterTimeBytes: Buffer.from(afterTime),
    lines,
    requests,
    setLevel(next) {
      requests.level = next;
      general.level = next;
    },
    flush: () => new Promise<void>((resolve) => requests.flush(() => resolve())),
  };
}

/**
 * Lines are written synchronously but gathered up to 64 KiB, 4 KiB to a pipe shared with other processes (and at
 * least every 100 ms): measured on a pipe, one write(2) per line cost more than serialising the line, and the
 * threadpool hop of async writes more still. The gathering is line-buffer.ts's (sonic-boom's own costs more than the
 * line, see there); sonic-boom writes. A process exit flushes what is buffered.
 */
function fdDestination(dest: number, shared: boolean): LineBuffer {
  const lines = createLineBuffer(pino.destination({ dest, sync: true, minLength: 0, contentMode: 'buffer' }), 100, batchBytesFor(dest, shared));
  process.once('exit', () => {
    try {
      lines.flushSync();
    } catch {
      // Nothing left to report it to.
    }
  });
  return lines;
}

function prettyAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/** The fields of the per-request line. Counts and timings only: no prompt, completion or credential, ever. */
export interface RequestLogLine {
  request_id: string;
  trace_id: string | null;
  subject: string;
  team: string | null;
  /** Public id of the gateway-managed API key used; null for JWTs. */
  key_id: string | null;
  endpoint: string | null;
  model: string | null;
  upstream_model: string | null;
  backend: string | null;
  stream: boolean;
  status: number;
  error_code: string | null;
  outcome: string;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  cached_tokens: number | null;
  usage_source: string | null;
  ttft_ms: number | null;
  latency_ms: number;
  upstream_ms: number | null;
  attempts: number;
}

const round2 = (ms: number): number => Math.round(ms * 100) / 100;

export function requestLogLine(ctx: RequestCtx, endMs: number, traceId: string | null): RequestLogLine {
  const u = ctx.usage;
  return {
    request_id: ctx.id,
    trace_id: traceId,
    subject: ctx.principal.subject,
    team: ctx.principal.team,
    key_id: ctx.principal.keyId ?? null,
    endpoint: ctx.endpoint,
    model: ctx.requestedModel,
    upstream_model: ctx.upstreamModel,
    backend: ctx.backendId,
    stream: ctx.stream,
    status: ctx.status,
    error_code: ctx.errorCode,
    outcome: ctx.outcome,
    prompt_tokens: u === null ? null : u.promptTokens,
    completion_tokens: u === null ? null : u.completionTokens,
    cached_tokens: u === null ? null : u.cachedTokens,
    usage_source: u === null ? null : u.source,
    ttft_ms: ctx.firstByteMs === null ? null : round2(ctx.firstByteMs - ctx.startMs),
    latency_ms: round2(endMs - ctx.startMs),
    upstream_ms: ctx.upstreamMs === null ? null : round2(ctx.upstreamMs),
    attempts: ctx.attempts,
  };
}

/** A gateway fault is an error, an upstream one a warning; client errors are ordinary traffic. */
function levelOf(ctx: RequestCtx): Level {
  if (ctx.status === 500) return 'error';
  return ctx.status >= 500 ? 'warn' : 'info';
}

const LEVEL_NUMBER: Record<string, number> = { info: 30, warn: 40, error: 50 };
const NO_USAGE = '"prompt_tokens":null,"completion_tokens":null,"cached_tokens":null,"usage_source":null';
const ms2 = (v: number | null): string => (v === null ? 'null' : twoDecimals(v));

/**
 * The line's caller-and-route part (subject to backend), kept for the next line: requests come in runs from the same
 * caller to the same model and backend, and this part is seven of the line's string lookups and joins. Compared
 * field by field, so a change of any one of them builds it afresh.
 */
let last = { subject: '', team: null as string | null, keyId: null as string | null, endpoint: null as string | null, model: null as string | null, upstream: null as string | null, backend: null as string | null, text: '' };

function whoAndWhere(ctx: RequestCtx): string {
  const p = ctx.principal;
  const keyId = p.keyId ?? null;
  const l = last;
  if (
    l.text !== '' &&
    p.subject === l.subject &&
    p.team === l.team &&
    keyId === l.keyId &&
    ctx.endpoint === l.endpoint &&
    ctx.requestedModel === l.model &&
    ctx.upstreamModel === l.upstream &&
    ctx.backendId === l.backend
  ) {
    return l.text;
  }
  const text =
    `"subject":${jsonString(p.subject)},"team":${jsonString(p.team)},"key_id":${jsonString(keyId)},"endpoint":${jsonString(ctx.endpoint)},` +
    `"model":${jsonString(ctx.requestedModel)},"upstream_model":${jsonString(ctx.upstreamModel)},"backend":${jsonString(ctx.backendId)},`;
  last = { subject: p.subject, team: p.team, keyId, endpoint: ctx.endpoint, model: ctx.requestedModel, upstream: ctx.upstreamModel, backend: ctx.backendId, text };
  return text;
}

/**
 * The request line in pino's format, built by one template straight from the context: a fixed shape needs no generic
 * serialiser (pino's cost about 7 KB of garbage and several microseconds per line), and no intermediate object.
 * Field for field the same text as `requestLogLine` through JSON (test/telemetry/request-log.test.ts checks it).
 */
function serialise(level: number, afterTime: string, ctx: RequestCtx, endMs: number, traceId: string | null): string {
  const u = ctx.usage;
  return (
    // Ids are new on every line: stringified, never remembered (they would evict the repeated values).
    `{"level":${level},"time":${Date.now()}${afterTime}${JSON.stringify(ctx.id)},"trace_id":${traceId === null ? 'null' : JSON.stringify(traceId)},` +
    whoAndWhere(ctx) +
    `"stream":${ctx.stream},"status":${ctx.status},"error_code":${jsonString(ctx.errorCode)},"outcome":${jsonString(ctx.outcome)},` +
    (u === null
      ? NO_USAGE
      : `"prompt_tokens":${u.promptTokens},"completion_tokens":${u.completionTokens},"cached_tokens":${u.cachedTokens},"usage_source":${jsonString(u.source)}`) +
    `,"ttft_ms":${ms2(ctx.firstByteMs === null ? null : ctx.firstByteMs - ctx.startMs)},"latency_ms":${twoDecimals(endMs - ctx.startMs)},` +
    `"upstream_ms":${ms2(ctx.upstreamMs)},"attempts":${ctx.attempts},"msg":"request"}\n`
  );
}

export function logRequest(loggers: Loggers, ctx: RequestCtx, endMs: number, traceId: string | null): void {
  const logger = loggers.requests;
  const level = levelOf(ctx);
  // Checked first so a quiet level skips building the line too.
  if (!logger.isLevelEnabled(level)) return;
  if (loggers.lines !== null && writeRequestLine(loggers.lines, LEVEL_NUMBER[level]!, loggers.afterTimeBytes, whoAndWhere(ctx), ctx, endMs, traceId)) return;
  if (loggers.writeLine) loggers.writeLine(serialise(LEVEL_NUMBER[level]!, loggers.afterTime, ctx, endMs, traceId));
  else logger[level](requestLogLine(ctx, endMs, traceId), 'request');
}
