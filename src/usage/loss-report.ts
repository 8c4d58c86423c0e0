/** How often dropped rows are reported while the database keeps refusing writes. */
export const LOSS_REPORT_MS = 10_000;

/**
 * Reports rows the usage writer had to drop: the first drop at once, then at most once per LOSS_REPORT_MS with the
 * rows dropped since, and whatever is left when the writer closes. A full disk with the queue at its bound drops
 * rows at every flush (five times a second); one report per flush flooded the log at the moment an operator reads it.
 */
export function createLossReport(report: (rows: number, reason: string) => void, now: () => number = () => performance.now()) {
  let dropped = 0;
  let unreported = 0;
  let reason = '';
  let reportedAt = Number.NEGATIVE_INFINITY;
  const flush = (t: number): void => {
    if (unreported === 0) return;
    const rows = unreported;
    unreported = 0;
    reportedAt = t;
    report(rows, reason);
  };
  return {
    add(rows: number, why: string): void {
      if (rows <= 0) return;
      dropped += rows;
      unreported += rows;
      reason = why;
      const t = now();
      if (t - reportedAt >= LOSS_REPORT_MS) flush(t);
    },
    /** At close: what is left, whatever the time since the last report. */
    flush: () => flush(now()),
    /** Every row dropped so far. */
    dropped: () => dropped,
  };
}
