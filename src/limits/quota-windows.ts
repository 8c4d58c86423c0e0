/** Quota periods are calendar days and months in UTC, so every replica and the usage log agree on boundaries. */
export type QuotaPeriod = 'day' | 'month';

export interface QuotaWindow {
  /** `d:2024-05-01` or `m:2024-05`: the persisted window id. */
  readonly id: string;
  /** Epoch ms the window starts (inclusive) and ends, when the quota resets (exclusive). */
  readonly startsAtMs: number;
  readonly resetsAtMs: number;
}

export function quotaWindow(period: QuotaPeriod, wallMs: number): QuotaWindow {
  const d = new Date(wallMs);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const mm = String(m + 1).padStart(2, '0');
  if (period === 'month') return { id: `m:${y}-${mm}`, startsAtMs: Date.UTC(y, m, 1), resetsAtMs: Date.UTC(y, m + 1, 1) };
  const day = d.getUTCDate();
  return { id: `d:${y}-${mm}-${String(day).padStart(2, '0')}`, startsAtMs: Date.UTC(y, m, day), resetsAtMs: Date.UTC(y, m, day + 1) };
}

/** quotaWindow with the last answer per period remembered: formatting dates per request would dominate reserve(). */
export function createWindowCache(): (period: QuotaPeriod, wallMs: number) => QuotaWindow {
  const last: Partial<Record<QuotaPeriod, QuotaWindow>> = {};
  return (period, wallMs) => {
    const w = last[period];
    if (w && wallMs >= w.startsAtMs && wallMs < w.resetsAtMs) return w;
    const fresh = quotaWindow(period, wallMs);
    last[period] = fresh;
    return fresh;
  };
}
