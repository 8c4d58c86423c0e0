import type { RequestCtx, UsageSource } from '../core/index.js';

/** One row per request, whatever its outcome (success, 4xx, 401/403, 429, 5xx, client abort). */
export interface UsageRow {
  readonly id: string;
  /** Wall-clock epoch ms the request started. */
  readonly timeMs: number;
  readonly subject: string;
  readonly team: string | null;
  /** Public id of the gateway-managed API key the request came with; null for JWTs. */
  readonly keyId: string | null;
  readonly requestedModel: string | null;
  readonly upstreamModel: string | null;
  readonly backend: string | null;
  readonly endpoint: string | null;
  readonly stream: boolean;
  readonly status: number;
  readonly errorCode: string | null;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly cachedTokens: number;
  /** Null when no tokens were involved (e.g. a 401 before the body was read). */
  readonly tokenSource: UsageSource | null;
  readonly ttftMs: number | null;
  readonly latencyMs: number;
}

/** The row for a finished request; `endMs` defaults to now-on-the-caller's-clock via `fallbackEndMs`. */
export function rowFromCtx(ctx: RequestCtx, fallbackEndMs: number): UsageRow {
  const end = ctx.endMs ?? fallbackEndMs;
  return {
    id: ctx.id,
    timeMs: ctx.startWallMs,
    subject: ctx.principal.subject,
    team: ctx.principal.team,
    keyId: ctx.principal.keyId ?? null,
    requestedModel: ctx.requestedModel,
    upstreamModel: ctx.upstreamModel,
    backend: ctx.backendId,
    endpoint: ctx.endpoint,
    stream: ctx.stream,
    status: ctx.status,
    errorCode: ctx.errorCode,
    promptTokens: ctx.usage?.promptTokens ?? 0,
    completionTokens: ctx.usage?.completionTokens ?? 0,
    cachedTokens: ctx.usage?.cachedTokens ?? 0,
    tokenSource: ctx.usage?.source ?? null,
    ttftMs: ctx.firstByteMs === null ? null : Math.max(0, ctx.firstByteMs - ctx.startMs),
    latencyMs: Math.max(0, end - ctx.startMs),
  };
}
