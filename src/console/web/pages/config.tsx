import { fmt } from '../api.js';
import { usePoll } from '../hooks.js';

interface ConfigView {
  source: string;
  loaded_at: string;
  last_reload_error: { at: string; problems: string[] } | null;
  config: unknown;
}

export function Config() {
  const { data, error } = usePoll<ConfigView>('/console/api/config', 10_000);
  if (!data) return <p class="muted">{error ?? 'Loading…'}</p>;
  return (
    <section>
      <dl class="facts">
        <dt>Source</dt>
        <dd>
          <code data-testid="config-source">{data.source}</code>
        </dd>
        <dt>Loaded</dt>
        <dd>{fmt.when(data.loaded_at)}</dd>
        <dt>Last reload</dt>
        <dd>{data.last_reload_error ? <span class="badge bad">failed {fmt.when(data.last_reload_error.at)}</span> : <span class="badge ok">no error</span>}</dd>
      </dl>
      {data.last_reload_error && (
        <pre class="error-box">{data.last_reload_error.problems.join('\n')}</pre>
      )}
      <h2>Active config</h2>
      <p class="muted small">Secrets are masked; the gateway never sends them.</p>
      <pre class="code" data-testid="config-json">
        {JSON.stringify(data.config, null, 2)}
      </pre>
    </section>
  );
}
