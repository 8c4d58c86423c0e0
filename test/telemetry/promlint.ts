/**
 * The checks `promtool check metrics` makes on a scrape, for machines without promtool (CI): every family has HELP
 * and TYPE, names are snake_case, counters and only counters end in `_total`, and units are Prometheus base units
 * written out (seconds, bytes; not milliseconds, kb or ms).
 */
export interface LintProblem {
  metric: string;
  problem: string;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const NON_BASE_UNITS: Record<string, string> = {
  milliseconds: 'seconds',
  microseconds: 'seconds',
  nanoseconds: 'seconds',
  minutes: 'seconds',
  hours: 'seconds',
  days: 'seconds',
  kilobytes: 'bytes',
  megabytes: 'bytes',
  gigabytes: 'bytes',
  kibibytes: 'bytes',
  mebibytes: 'bytes',
};
// Not `min` / `max`: they name statistics (`nodejs_eventloop_lag_min_seconds`), not minutes.
const ABBREVIATIONS = new Set(['ms', 'us', 'ns', 'sec', 'secs', 'hr', 'hrs', 'kb', 'mb', 'gb', 'kib', 'mib', 'gib', 'pct']);

export function lintExposition(text: string): LintProblem[] {
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  const sampled = new Set<string>();
  const problems: LintProblem[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('# HELP ')) {
      const [name, ...rest] = line.slice(7).split(' ');
      help.set(name!, rest.join(' '));
    } else if (line.startsWith('# TYPE ')) {
      const [name, t] = line.slice(7).split(' ');
      type.set(name!, t!);
    } else if (line && !line.startsWith('#')) {
      sampled.add(line.split(/[{ ]/)[0]!);
    }
  }
  const familyOf = (sample: string) => {
    if (type.has(sample)) return sample;
    for (const suffix of ['_bucket', '_sum', '_count', '_created']) {
      if (sample.endsWith(suffix) && type.has(sample.slice(0, -suffix.length))) return sample.slice(0, -suffix.length);
    }
    return sample;
  };
  for (const s of sampled) if (!type.has(familyOf(s))) problems.push({ metric: s, problem: 'no TYPE line' });
  for (const [name, t] of type) {
    if (!NAME.test(name)) problems.push({ metric: name, problem: 'invalid metric name' });
    if (/[A-Z]/.test(name)) problems.push({ metric: name, problem: 'metric names should be written in snake_case, not camelCase' });
    if (!help.get(name)) problems.push({ metric: name, problem: 'no help text' });
    if (t === 'counter' && !name.endsWith('_total')) problems.push({ metric: name, problem: 'counter metrics should have "_total" suffix' });
    if (t !== 'counter' && name.endsWith('_total')) problems.push({ metric: name, problem: 'non-counter metrics should not have "_total" suffix' });
    for (const part of name.split('_')) {
      const base = NON_BASE_UNITS[part];
      if (base) problems.push({ metric: name, problem: `use base unit "${base}" instead of "${part}"` });
      if (ABBREVIATIONS.has(part)) problems.push({ metric: name, problem: `metric names should not contain abbreviated units ("${part}")` });
    }
  }
  return problems;
}
