import type { LiveSnapshot } from '../../wire.js';
import { fmt } from '../api.js';
import { Chart } from '../chart.js';
import { usePoll } from '../hooks.js';

const ERR_COLORS: Record<string, string> = {
  client_error: '#d9a400',
  unauthorized: '#8a63d2',
  rate_limited: '#e07b00',
  upstream_error: '#d43c3c',
  client_abort: '#7a8899',
};


export function Live({ refreshMs }: { refreshMs: number }) {
  const { data, error } = usePoll<LiveSnapshot>('/console/api/live', refreshMs);
  if (!data) return <p class="muted">{error ?? 'Loading…'}</p>;
  const s = data.series;
  const c = data.current;
  const errorShare = Object.values(c.errorRate).reduce((n, v) => n + v, 0);
  return (
    <section>
      {error && <p class="error">{error}</p>}
      <div class="cards">
        <Card label="Requests/s" value={fmt.num(c.rps, 2)} id="rps" />
        <Card label="Tokens/s in" value={fmt.num(c.tokensInPerS)} id="tok-in" />
        <Card label="Tokens/s out" value={fmt.num(c.tokensOutPerS)} id="tok-out" />
        <Card label="TTFT p50 / p99" value={`${fmt.ms(c.ttft.p50)} / ${fmt.ms(c.ttft.p99)}`} id="ttft" />
        <Card label="Latency p50 / p99" value={`${fmt.ms(c.e2e.p50)} / ${fmt.ms(c.e2e.p99)}`} id="e2e" />
        <Card label="Errors" value={c.requests > 0 ? fmt.pct(errorShare) : '–'} id="errors" />
      </div>
      <p class="muted small">Last hour in 10-second steps; the cards cover the last 20–30 seconds. Updated every {Math.round(refreshMs / 1000)} s.</p>
      <div class="grid">
        <Chart title="Requests per second" x={s.t} series={[{ label: 'req/s', color: '#2f7ddb', values: s.rps }]} />
        <Chart
          title="Tokens per second"
          x={s.t}
          series={[
            { label: 'in', color: '#16a085', values: s.tokensInPerS },
            { label: 'out', color: '#8e44ad', values: s.tokensOutPerS },
          ]}
        />
        <Chart
          title="Latency (ms)"
          x={s.t}
          series={[
            { label: 'TTFT p50', color: '#27ae60', values: s.ttftP50, points: true },
            { label: 'TTFT p99', color: '#1e8449', values: s.ttftP99, points: true },
            { label: 'e2e p50', color: '#2f7ddb', values: s.e2eP50, points: true },
            { label: 'e2e p99', color: '#1b4f8a', values: s.e2eP99, points: true },
          ]}
        />
        <Chart
          title="Errors per second by class"
          x={s.t}
          series={Object.entries(s.errorsPerS).map(([k, v]) => ({ label: k.replace('_', ' '), color: ERR_COLORS[k] ?? '#999', values: v }))}
        />
      </div>
      <h2>Per model, last minute</h2>
      <div class="scroll">
        <table data-testid="live-models">
          <thead>
            <tr>
              <th>model</th>
              <th class="n">req/s</th>
              <th class="n">tok/s in</th>
              <th class="n">tok/s out</th>
              <th class="n">TTFT p50</th>
              <th class="n">TTFT p99</th>
              <th class="n">e2e p50</th>
              <th class="n">e2e p99</th>
              <th class="n">4xx</th>
              <th class="n">401/403</th>
              <th class="n">429</th>
              <th class="n">5xx</th>
              <th class="n">aborted</th>
            </tr>
          </thead>
          <tbody>
            {data.models.length === 0 && (
              <tr>
                <td colSpan={13} class="muted">
                  No requests in the last minute.
                </td>
              </tr>
            )}
            {data.models.map((m) => (
              <tr key={m.model}>
                <td>{m.model}</td>
                <td class="n">{fmt.num(m.rps, 2)}</td>
                <td class="n">{fmt.num(m.tokensInPerS)}</td>
                <td class="n">{fmt.num(m.tokensOutPerS)}</td>
                <td class="n">{fmt.ms(m.ttft.p50)}</td>
                <td class="n">{fmt.ms(m.ttft.p99)}</td>
                <td class="n">{fmt.ms(m.e2e.p50)}</td>
                <td class="n">{fmt.ms(m.e2e.p99)}</td>
                <td class="n">{fmt.pct(m.errorRate.client_error)}</td>
                <td class="n">{fmt.pct(m.errorRate.unauthorized)}</td>
                <td class="n">{fmt.pct(m.errorRate.rate_limited)}</td>
                <td class="n">{fmt.pct(m.errorRate.upstream_error)}</td>
                <td class="n">{fmt.pct(m.errorRate.client_abort)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Card({ label, value, id }: { label: string; value: string; id: string }) {
  return (
    <div class="card">
      <div class="card-label">{label}</div>
      <div class="card-value" data-testid={`live-${id}`}>
        {value}
      </div>
    </div>
  );
}
