/** Parses `250ms`, `2s`, `1m30s`, `10m`, `1h`, `7d` or a bare number of milliseconds. Returns NaN when malformed. */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') return input;
  const s = input.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return Number.NaN;
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : m[2] === 'h' ? n * 3_600_000 : n * 86_400_000;
    pos = re.lastIndex;
  }
  return pos === 0 ? Number.NaN : total;
}

/** Parses `16MiB`, `512KiB`, `1MB`, `1024` (bytes). Returns NaN when malformed. */
export function parseBytes(input: string | number): number {
  if (typeof input === 'number') return input;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$/i.exec(input);
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  const unit = (m[2] ?? 'B').toLowerCase();
  const mult: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };
  return Math.floor(n * (mult[unit] ?? Number.NaN));
}

/** OpenAI's rate-limit reset format: `6m0s`, `1s`, `20ms`. */
export function formatResetDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const totalS = Math.ceil(ms / 1000);
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = totalS % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** The longest delay Node's timers accept (2^31 - 1 ms, about 24.8 days); a longer one fires after 1 ms instead. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * A config duration as a timer delay: capped at MAX_TIMER_MS, since Node turns a longer delay into 1 ms (a
 * `probe_interval: 30d` probed every millisecond, a `probe_timeout: 30d` aborted every probe at once). Every capped
 * use re-checks or repeats, so the cap only shortens a wait no one could tell from the one asked for.
 */
export function timerDelay(ms: number): number {
  return Math.min(ms, MAX_TIMER_MS);
}
