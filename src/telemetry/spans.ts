import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Attributes, Context, HrTime, Span, Tracer } from '@opentelemetry/api';
import type { Clock, RequestCtx } from '../core/index.js';
import { errorType, operationName } from './labels.js';
import {
  ATTR_ATTEMPT,
  ATTR_ATTEMPTS,
  ATTR_BACKEND,
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MAX_TOKENS,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_OUTCOME,
  ATTR_REQUEST_ID,
  ATTR_ROUTING_CANDIDATES,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_STREAM,
  ATTR_TTFT_MS,
  PROVIDER_NAME,
  ATTR_API_KEY_ID,
} from './semconv.js';
import { formatTraceparent, toHrTime, wallMsOf } from './trace-context.js';
import type { ServerAddress } from './trace-context.js';
import type { AttemptSpan, RequestSpan, RoutingSpan } from './types.js';

/** What every span of a request shares; built once per Telemetry. */
export interface SpanEnv {
  readonly tracer: Tracer;
  readonly clock: Clock;
  readonly addressOf: (url: string) => ServerAddress | null;
}

/** GenAI span name: `{operation} {model}`, falling back to a fixed name while either is unknown. */
function spanName(ctx: RequestCtx, model: string | null, fallback: string): string {
  return ctx.endpoint !== null && model !== null ? `${operationName(ctx.endpoint)} ${model}` : fallback;
}

export class RequestSpanImpl implements RequestSpan {
  readonly traceId: string;
  readonly #span: Span;
  readonly #context: Context;
  readonly #env: SpanEnv;
  readonly #ctx: RequestCtx;

  constructor(env: SpanEnv, ctx: RequestCtx, parent: Context) {
    this.#env = env;
    this.#ctx = ctx;
    this.#span = env.tracer.startSpan(
      'infergate.request',
      { kind: SpanKind.SERVER, startTime: toHrTime(ctx.startWallMs), attributes: { [ATTR_REQUEST_ID]: ctx.id } },
      parent,
    );
    this.#context = trace.setSpan(parent, this.#span);
    this.traceId = this.#span.spanContext().traceId;
  }

  setMaxTokens(maxTokens: number): void {
    this.#span.setAttribute(ATTR_GEN_AI_REQUEST_MAX_TOKENS, maxTokens);
  }

  startRouting(): RoutingSpan {
    const span = this.#env.tracer.startSpan(
      'infergate.routing',
      { kind: SpanKind.INTERNAL, startTime: this.#now() },
      this.#context,
    );
    return {
      end: (chosenBackend, candidates) => {
        if (chosenBackend !== null) span.setAttribute(ATTR_BACKEND, chosenBackend);
        if (candidates !== undefined) span.setAttribute(ATTR_ROUTING_CANDIDATES, candidates);
        span.end(this.#now());
      },
    };
  }

  startAttempt(backendId: string, attemptNo: number, upstreamModel?: string | null): AttemptSpan {
    const ctx = this.#ctx;
    const model = upstreamModel ?? ctx.upstreamModel ?? ctx.requestedModel;
    const attributes: Attributes = { [ATTR_ATTEMPT]: attemptNo, [ATTR_BACKEND]: backendId, [ATTR_GEN_AI_PROVIDER_NAME]: PROVIDER_NAME };
    if (ctx.endpoint !== null) attributes[ATTR_GEN_AI_OPERATION_NAME] = operationName(ctx.endpoint);
    if (model !== null) attributes[ATTR_GEN_AI_REQUEST_MODEL] = model;
    const addr = this.#env.addressOf(backendId);
    if (addr !== null) {
      attributes[ATTR_SERVER_ADDRESS] = addr.address;
      attributes[ATTR_SERVER_PORT] = addr.port;
    }
    const span = this.#env.tracer.startSpan(
      spanName(ctx, model, 'infergate.attempt'),
      { kind: SpanKind.CLIENT, startTime: this.#now(), attributes },
      this.#context,
    );
    return new AttemptSpanImpl(span, () => this.#now());
  }

  /** Sets the final GenAI attributes and ends the span at the request's end time. */
  finish(endMs: number): void {
    const ctx = this.#ctx;
    const span = this.#span;
    const a: Attributes = {
      [ATTR_HTTP_RESPONSE_STATUS_CODE]: ctx.status,
      [ATTR_OUTCOME]: ctx.outcome,
      [ATTR_STREAM]: ctx.stream,
      [ATTR_ATTEMPTS]: ctx.attempts,
      [ATTR_GEN_AI_PROVIDER_NAME]: PROVIDER_NAME,
    };
    if (ctx.endpoint !== null) a[ATTR_GEN_AI_OPERATION_NAME] = operationName(ctx.endpoint);
    if (ctx.requestedModel !== null) a[ATTR_GEN_AI_REQUEST_MODEL] = ctx.requestedModel;
    if (ctx.upstreamModel !== null) a[ATTR_GEN_AI_RESPONSE_MODEL] = ctx.upstreamModel;
    if (ctx.principal.keyId) a[ATTR_API_KEY_ID] = ctx.principal.keyId;
    if (ctx.usage !== null) {
      a[ATTR_GEN_AI_USAGE_INPUT_TOKENS] = ctx.usage.promptTokens;
      a[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS] = ctx.usage.completionTokens;
      if (ctx.usage.cachedTokens > 0) a[ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = ctx.usage.cachedTokens;
    }
    if (ctx.backendId !== null) {
      a[ATTR_BACKEND] = ctx.backendId;
      const addr = this.#env.addressOf(ctx.backendId);
      if (addr !== null) {
        a[ATTR_SERVER_ADDRESS] = addr.address;
        a[ATTR_SERVER_PORT] = addr.port;
      }
    }
    if (ctx.firstByteMs !== null) a[ATTR_TTFT_MS] = ctx.firstByteMs - ctx.startMs;
    const et = errorType(ctx);
    if (et !== '') {
      a[ATTR_ERROR_TYPE] = et;
      // HTTP server convention: a 4xx is the client's fault and leaves the server span's status unset.
      if (ctx.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: et });
    }
    span.setAttributes(a);
    span.updateName(spanName(ctx, ctx.requestedModel, 'infergate.request'));
    span.end(toHrTime(wallMsOf(ctx, endMs)));
  }

  #now() {
    return toHrTime(wallMsOf(this.#ctx, this.#env.clock.now()));
  }
}

class AttemptSpanImpl implements AttemptSpan {
  readonly traceparent: string;
  readonly #span: Span;
  readonly #now: () => HrTime;

  constructor(span: Span, now: () => HrTime) {
    this.#span = span;
    this.#now = now;
    this.traceparent = formatTraceparent(span.spanContext());
  }

  firstByte(): void {
    this.#span.addEvent('infergate.first_byte', this.#now());
  }

  end(errorTypeValue?: string | null, statusCode?: number | null): void {
    const span = this.#span;
    if (statusCode !== undefined && statusCode !== null) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, statusCode);
    if (errorTypeValue !== undefined && errorTypeValue !== null && errorTypeValue !== '') {
      span.setAttribute(ATTR_ERROR_TYPE, errorTypeValue);
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorTypeValue });
    }
    span.end(this.#now());
  }
}
