import { useMemo, useState } from 'preact/hooks';
import { api, fmt } from '../api.js';
import { Chart } from '../chart.js';
import { usePoll } from '../hooks.js';

type Row = Record<string, string | number | null> & { requests: number; errors: number; prompt_tokens: number; completion_tokens: number; total_tokens: number };
interface Report {
  from: string;
  to: string;
  group_by: string[];
  data: Row[];
}

const RANGES = [
  ['1h', 'last hour'],
  ['24h', 'last 24 hours'],
  ['7d', 'last 7 days'],
  ['30d', 'last 30 days'],
] as const;
const DIMS = ['team', 'subject', 'key', 'model'] as const;

export function Usage() {
  const [range, setRange] = useState<string>('24h');
  const [dims, setDims] = useState<string[]>(['team', 'model']);
  const query = `from=${range}${dims.length ? `&group_by=${dims.join(',')}` : ''}`;
  const table = usePoll<Report>(`/admin/usage?${query}`, 30_000);
  const chartRange = range === '1h' || range === '24h' ? '7d' : range;
  const days = usePoll<Report>(`/admin/usage?from=${chartRange}&group_by=day`, 60_000);
  const [csvError, setCsvError] = useState<string | null>(null);
  const [downloading, setDownloading] = useState(false);

  // Whole UTC days: from the range's first day to the end of today, half a day of margin for the bars.
  const xRange = useMemo((): [number, number] => {
    const day = 86_400;
    const today = Math.floor(Date.now() / 1000 / day) * day;
    return [today - (chartRange === '30d' ? 30 : 7) * day + day / 2, today + day / 2];
  }, [chartRange]);
  const series = useMemo(() => {
    const rows = [...(days.data?.data ?? [])].sort((a, b) => String(a.day).localeCompare(String(b.day)));
    return {
      x: rows.map((r) => Date.parse(`${r.day}T00:00:00Z`) / 1000),
      prompt: rows.map((r) => r.prompt_tokens),
      completion: rows.map((r) => r.completion_tokens),
    };
  }, [days.data]);

  const rows = [...(table.data?.data ?? [])].sort((a, b) => b.total_tokens - a.total_tokens);
  const max = Math.max(1, ...rows.map((r) => r.total_tokens));

  const download = async () => {
    setDownloading(true);
    try {
      const csv = await api<string>(`/admin/usage?${query}`, { accept: 'text/csv' });
      const a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
      a.download = `infergate-usage-${range}-${dims.join('-') || 'total'}.csv`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 1000);
      setCsvError(null);
    } catch (e) {
      setCsvError((e as Error).message);
    } finally {
      setDownloading(false);
    }
  };

  return (
    <section>
      <form class="toolbar" onSubmit={(e) => e.preventDefault()}>
        <label>
          Range{' '}
          <select value={range} onChange={(e) => setRange((e.target as HTMLSelectElement).value)} data-testid="usage-range">
            {RANGES.map(([v, label]) => (
              <option value={v} key={v}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <span class="group">
          By
          {DIMS.map((d) => (
            <label key={d} class="check">
              <input
                type="checkbox"
                checked={dims.includes(d)}
                onChange={(e) => {
                  const on = (e.target as HTMLInputElement).checked;
                  setDims(DIMS.filter((x) => (x === d ? on : dims.includes(x))));
                }}
              />{' '}
              {d}
            </label>
          ))}
        </span>
        <button type="button" onClick={download} disabled={downloading} data-testid="usage-csv">
          Download CSV
        </button>
      </form>
      {table.error && (
        <p class="error" aria-live="polite">
          {table.error}
        </p>
      )}
      {csvError && (
        <p class="error" role="alert" data-testid="usage-csv-error">
          {csvError}
        </p>
      )}
      <Chart
        title="Tokens per day (UTC)"
        x={series.x}
        xRange={xRange}
        series={[
          { label: 'prompt', color: '#16a085', values: series.prompt, bars: -1 },
          { label: 'completion', color: '#8e44ad', values: series.completion, bars: 1 },
        ]}
      />
      <div class="scroll">
        <table data-testid="usage-table">
          <thead>
            <tr>
              {dims.map((d) => (
                <th key={d}>{d}</th>
              ))}
              <th class="n">requests</th>
              <th class="n">errors</th>
              <th class="n">prompt</th>
              <th class="n">completion</th>
              <th>total tokens</th>
            </tr>
          </thead>
          <tbody>
            {table.data && rows.length === 0 && (
              <tr>
                <td colSpan={dims.length + 5} class="muted">
                  No requests in this range.
                </td>
              </tr>
            )}
            {rows.map((r, i) => (
              <tr key={i}>
                {dims.map((d) => (
                  <td key={d}>{r[d] ?? <span class="muted">–</span>}</td>
                ))}
                <td class="n">{fmt.num(r.requests, 1)}</td>
                <td class="n">{fmt.num(r.errors, 1)}</td>
                <td class="n">{fmt.num(r.prompt_tokens)}</td>
                <td class="n">{fmt.num(r.completion_tokens)}</td>
                <td>
                  <span class="meter wide">
                    <span style={{ width: `${(r.total_tokens / max) * 100}%` }} />
                    <em>{fmt.num(r.total_tokens)}</em>
                  </span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p class="muted small">The same numbers as GET /admin/usage?{query}.</p>
    </section>
  );
}
