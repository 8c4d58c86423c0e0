import type { FleetSnapshot } from '../../wire.js';
import { fmt } from '../api.js';
import { usePoll } from '../hooks.js';

export function Fleet({ refreshMs }: { refreshMs: number }) {
  const { data, error } = usePoll<FleetSnapshot>('/console/api/fleet', refreshMs);
  if (!data) return <p class="muted">{error ?? 'Loading…'}</p>;
  const healthy = data.backends.filter((b) => b.healthy).length;
  return (
    <section>
      {error && <p class="error">{error}</p>}
      <div class="cards">
        <div class="card">
          <div class="card-label">Backends healthy</div>
          <div class="card-value" data-testid="fleet-healthy">
            {healthy} / {data.backends.length}
          </div>
        </div>
        <div class="card">
          <div class="card-label">Gateway queue</div>
          <div class="card-value">{data.queued}</div>
        </div>
        <div class="card">
          <div class="card-label">In flight</div>
          <div class="card-value">{data.backends.reduce((n, b) => n + b.inFlight, 0)}</div>
        </div>
      </div>
      <div class="scroll">
        <table data-testid="fleet-table">
          <thead>
            <tr>
              <th>backend</th>
              <th>models</th>
              <th>state</th>
              <th class="n">in flight</th>
              <th class="n">running</th>
              <th class="n">queued</th>
              <th>KV cache</th>
              <th class="n">prefix hits</th>
              <th class="n">ejections</th>
              <th>last out of rotation</th>
            </tr>
          </thead>
          <tbody>
            {data.backends.map((b) => (
              <tr key={b.id}>
                <td>
                  <code>{b.url}</code>
                  <div class="muted small">{b.kind}</div>
                </td>
                <td>{b.models.join(', ')}</td>
                <td>
                  <span class={`badge ${b.healthy ? 'ok' : 'bad'}`}>{b.status.replace('_', ' ')}</span>
                </td>
                <td class="n">{b.inFlight}</td>
                <td class="n">{fmt.num(b.running)}</td>
                <td class="n">{fmt.num(b.waiting)}</td>
                <td>
                  {b.kvUsage === null ? (
                    '–'
                  ) : (
                    <span class="meter" title={fmt.pct(b.kvUsage)}>
                      <span style={{ width: `${Math.min(100, b.kvUsage * 100)}%` }} />
                      <em>{fmt.pct(b.kvUsage)}</em>
                    </span>
                  )}
                </td>
                <td class="n">{fmt.pct(b.prefixHitRate)}</td>
                <td class="n">{b.ejections}</td>
                <td class="small">{b.lastDown ? `${fmt.when(b.lastDown.at)}: ${b.lastDown.reason}${b.lastDown.forMs ? ` (${fmt.ms(b.lastDown.forMs)})` : ''}` : '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p class="muted small">From the router's own accounting and its scrapes of each engine's /metrics. Updated every {Math.round(refreshMs / 1000)} s.</p>
    </section>
  );
}
