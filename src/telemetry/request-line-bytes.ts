import type { RequestCtx } from '../core/index.js';
import { LineBytes, memoBytes } from './line-bytes.js';
import type { LineBuffer } from './line-buffer.js';
import { twoDecimalsInto } from './log-format.js';

/**
 * The request line written in place into the log batch (line-bytes.ts says why): the same text, byte for byte, as
 * request-log.ts's `serialise` (test/telemetry/request-log.test.ts compares them over a file descriptor).
 */
const enc = (s: string) => Buffer.from(s);
const LEVEL = enc('{"level":');
const TIME = enc(',"time":');
const TRACE = enc(',"trace_id":');
const TRACE_NULL = enc(',"trace_id":null,');
const COMMA = enc(',');
const STREAM_TRUE = enc('"stream":true,"status":');
const STREAM_FALSE = enc('"stream":false,"status":');
const PROMPT = enc(',"prompt_tokens":');
const COMPLETION = enc(',"completion_tokens":');
const CACHED = enc(',"cached_tokens":');
const NO_USAGE = enc(',"prompt_tokens":null,"completion_tokens":null,"cached_tokens":null,"usage_source":null');
const TTFT = enc(',"ttft_ms":');
const LATENCY = enc(',"latency_ms":');
const UPSTREAM = enc(',"upstream_ms":');
const ATTEMPTS = enc(',"attempts":');
const END = enc(',"msg":"request"}\n');
const NULL = enc('null');
/** Fixed text of a line and the widest numbers it can hold, with room to spare. */
const FIXED_BOUND = 640;

/**
 * The low-cardinality parts encoded once each, whole (fewer copies per line): `,"error_code":…,"outcome":…` per pair,
 * `,"usage_source":…` per source.
 */
const outcomes = new Map<string | null, Map<string, Buffer>>();
const sources = new Map<string, Buffer>();

function outcomeBytes(errorCode: string | null, outcome: string): Buffer {
  let byOutcome = outcomes.get(errorCode);
  if (byOutcome === undefined) {
    // Error codes can be a backend's own words: bounded like every memo here.
    if (outcomes.size >= 256) outcomes.clear();
    outcomes.set(errorCode, (byOutcome = new Map()));
  }
  let b = byOutcome.get(outcome);
  if (b === undefined) {
    b = Buffer.from(`,"error_code":${errorCode === null ? 'null' : JSON.stringify(errorCode)},"outcome":${JSON.stringify(outcome)}`);
    byOutcome.set(outcome, b);
  }
  return b;
}

const line = new LineBytes();
let whoText = '';
let whoBytes: Buffer = NULL;

/**
 * Writes the line into `lines`; false when it could not (a line longer than a batch: the caller writes the string).
 * `who` is request-log.ts's caller-and-route part, the same string object while it does not change.
 */
export function writeRequestLine(lines: LineBuffer, level: number, afterTime: Buffer, who: string, ctx: RequestCtx, endMs: number, traceId: string | null): boolean {
  if (who !== whoText) {
    whoText = who;
    whoBytes = Buffer.from(who);
  }
  const u = ctx.usage;
  const outcome = outcomeBytes(ctx.errorCode, ctx.outcome);
  const source = u === null ? NULL : memoBytes(sources, u.source, ',"usage_source":');
  const max = FIXED_BOUND + afterTime.length + whoBytes.length + LineBytes.jsonBound(ctx.id) + LineBytes.jsonBound(traceId) + outcome.length + source.length;
  if (!lines.begin(line, max)) return false;
  line.bytes(LEVEL);
  line.num(level);
  line.bytes(TIME);
  line.num(Date.now());
  line.bytes(afterTime);
  line.jsonString(ctx.id);
  if (traceId === null) line.bytes(TRACE_NULL);
  else {
    line.bytes(TRACE);
    line.jsonString(traceId);
    line.bytes(COMMA);
  }
  line.bytes(whoBytes);
  line.bytes(ctx.stream ? STREAM_TRUE : STREAM_FALSE);
  line.num(ctx.status);
  line.bytes(outcome);
  if (u === null) line.bytes(NO_USAGE);
  else {
    line.bytes(PROMPT);
    line.num(u.promptTokens);
    line.bytes(COMPLETION);
    line.num(u.completionTokens);
    line.bytes(CACHED);
    line.num(u.cachedTokens);
    line.bytes(source);
  }
  line.bytes(TTFT);
  if (ctx.firstByteMs === null) line.bytes(NULL);
  else twoDecimalsInto(line, ctx.firstByteMs - ctx.startMs);
  line.bytes(LATENCY);
  twoDecimalsInto(line, endMs - ctx.startMs);
  line.bytes(UPSTREAM);
  if (ctx.upstreamMs === null) line.bytes(NULL);
  else twoDecimalsInto(line, ctx.upstreamMs);
  line.bytes(ATTEMPTS);
  line.num(ctx.attempts);
  line.bytes(END);
  lines.commit(line);
  return true;
}
