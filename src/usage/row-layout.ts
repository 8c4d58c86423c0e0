import type { UsageRow } from './usage-row.js';

/**
 * A usage row as a run of values in a flat array (the cheapest thing to post to a thread), in usage_rows column
 * order. Names (subject … token source) travel as strings and are written as usage_names ids.
 */
export const COL = {
  requestId: 0, timeMs: 1, subject: 2, team: 3, key: 4, requestedModel: 5, upstreamModel: 6, backend: 7, endpoint: 8,
  stream: 9, status: 10, errorCode: 11, promptTokens: 12, completionTokens: 13, cachedTokens: 14, tokenSource: 15,
  ttftMs: 16, latencyMs: 17,
} as const;
export const VALUES_PER_ROW = 18;
export const ROW_COLUMNS = `(request_id, time_ms, subject_id, team_id, key_id, requested_model_id, upstream_model_id, backend_id,
  endpoint_id, stream, status, error_code_id, prompt_tokens, completion_tokens, cached_tokens, token_source_id, ttft_ms, latency_ms)`;
/** ttft_ms of a row without one, where rows travel packed as numbers (sqlite-sink.ts PackedRows). */
export const NO_TTFT = -1;
/** Positions of the values stored as usage_names ids. */
export const NAME_AT: readonly number[] = [COL.subject, COL.team, COL.key, COL.requestedModel, COL.upstreamModel, COL.backend, COL.endpoint, COL.errorCode, COL.tokenSource];
/** Positions of the rollup dimensions other than the status class, in rollup-shape DIM_COLUMNS order. */
export const DIM_AT: readonly number[] = [COL.subject, COL.team, COL.key, COL.requestedModel, COL.upstreamModel, COL.backend, COL.endpoint];

/** Appends one row's values to a flat batch. */
export function pushRow(out: unknown[], r: UsageRow): void {
  out.push(
    r.id, r.timeMs, r.subject, r.team, r.keyId, r.requestedModel, r.upstreamModel, r.backend, r.endpoint, r.stream ? 1 : 0,
    r.status, r.errorCode, r.promptTokens, r.completionTokens, r.cachedTokens, r.tokenSource, r.ttftMs, r.latencyMs,
  );
}
