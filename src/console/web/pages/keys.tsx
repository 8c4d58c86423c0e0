import { useState } from 'preact/hooks';
import type { ApiKeyWire as KeyView, KeyLimitsWire as KeyLimits } from '../../wire.js';
import { api, fmt } from '../api.js';
import { usePoll } from '../hooks.js';

const LIMIT_FIELDS: [keyof KeyLimits, string][] = [
  ['rpm', 'req/min'],
  ['tpm', 'tokens/min'],
  ['concurrency', 'concurrent'],
  ['tokens_per_day', 'tokens/day'],
  ['tokens_per_month', 'tokens/month'],
];

/** Exact, as the admin set them: a limit of 1,500,000 tokens/month is not "2M", nor 12,500 tokens/min "13k". */
function limitsText(l: KeyLimits): string {
  const parts = LIMIT_FIELDS.filter(([k]) => l[k] !== undefined).map(([k, label]) => `${l[k]!.toLocaleString('en-US')} ${label}`);
  return parts.length ? parts.join(', ') : 'none';
}

/** Form values → limits; an empty field means no limit of that kind. */
function readLimits(form: HTMLFormElement): KeyLimits {
  const out: Record<string, number> = {};
  for (const [k] of LIMIT_FIELDS) {
    const v = (form.elements.namedItem(k) as HTMLInputElement | null)?.value.trim();
    if (v) out[k] = Number(v);
  }
  return out;
}

function LimitInputs({ limits }: { limits?: KeyLimits }) {
  return (
    <>
      {LIMIT_FIELDS.map(([k, label]) => (
        <label key={k}>
          {label}
          <input name={k} type="number" min="1" step="1" inputMode="numeric" defaultValue={limits?.[k]?.toString() ?? ''} />
        </label>
      ))}
    </>
  );
}

/**
 * One admin action (create, save, revoke): busy while it runs so a second click cannot send it twice, and its error
 * kept for the form or button that asked, which stays as it was (what was typed included) until the admin retries or
 * cancels. `run` resolves true when the action succeeded; the list is reloaded after it either way, so the page shows
 * what the gateway holds now (a key revoked meanwhile by someone else, say).
 */
function useAction(reload: () => void) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (fn: () => Promise<unknown>): Promise<boolean> => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      return true;
    } catch (e) {
      setError((e as Error).message || 'The request failed.');
      return false;
    } finally {
      setBusy(false);
      reload();
    }
  };
  return { busy, error, run };
}

/** An action's error, next to what failed, announced to screen readers as it appears. */
function Problem({ message, testId }: { message: string | null; testId: string }) {
  return message ? (
    <p class="error" role="alert" data-testid={testId}>
      {message}
    </p>
  ) : null;
}

function EditLimits({ k, reload, onClose }: { k: KeyView; reload: () => void; onClose: () => void }) {
  const save = useAction(reload);
  return (
    <form
      class="form compact"
      data-testid="edit-limits"
      onSubmit={(e) => {
        e.preventDefault();
        const limits = readLimits(e.target as HTMLFormElement);
        void save.run(() => api(`/admin/keys/${k.id}`, { method: 'PATCH', body: { limits } })).then((ok) => ok && onClose());
      }}
    >
      <LimitInputs limits={k.limits} />
      <button type="submit" disabled={save.busy}>
        Save
      </button>
      <button type="button" class="plain" onClick={onClose}>
        Cancel
      </button>
      <Problem message={save.error} testId="edit-limits-error" />
    </form>
  );
}

function Revoke({ k, reload }: { k: KeyView; reload: () => void }) {
  const revoke = useAction(reload);
  return (
    <>
      <button
        type="button"
        class="danger"
        data-testid="revoke"
        disabled={revoke.busy}
        onClick={() => {
          if (confirm(`Revoke ${k.id}? Requests with it are refused at once.`)) void revoke.run(() => api(`/admin/keys/${k.id}`, { method: 'DELETE' }));
        }}
      >
        Revoke
      </button>
      <Problem message={revoke.error} testId="revoke-error" />
    </>
  );
}

/**
 * Copies the new secret, and says whether it did: the clipboard API is absent on a plain-HTTP origin other than
 * localhost (a console reached as http://gateway:8080) and may be refused, and a silent failure would let the admin
 * click Done believing the key copied, losing it for good.
 */
function CopyButton({ text }: { text: string }) {
  const [state, setState] = useState<'copied' | 'failed' | null>(null);
  const copy = async () => {
    try {
      if (!navigator.clipboard) throw new Error('no clipboard');
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      setState('failed');
    }
  };
  return (
    <>
      <button type="button" onClick={() => void copy()}>
        Copy
      </button>
      <span role="status" class={state === 'failed' ? 'error' : 'muted'} data-testid="copy-status">
        {state === 'copied' ? ' Copied.' : state === 'failed' ? ' Could not copy: select the key above and copy it by hand.' : ''}
      </span>
    </>
  );
}

export function Keys() {
  const { data, error, reload } = usePoll<{ data: KeyView[] }>('/admin/keys', 15_000);
  const [secret, setSecret] = useState<{ id: string; key: string } | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const creating = useAction(reload);

  const create = (e: Event) => {
    e.preventDefault();
    const f = e.target as HTMLFormElement;
    const v = (n: string) => (f.elements.namedItem(n) as HTMLInputElement).value.trim();
    void creating.run(async () => {
      const body: Record<string, unknown> = { subject: v('subject'), scopes: v('scopes'), label: v('label'), limits: readLimits(f) };
      if (v('team')) body.team = v('team');
      if (v('ttl')) body.ttl = v('ttl');
      const created = await api<KeyView & { key: string }>('/admin/keys', { method: 'POST', body });
      setSecret({ id: created.id, key: created.key });
      f.reset();
    });
  };

  return (
    <section>
      {secret && (
        <div class="secret" data-testid="new-key">
          <strong>Key {secret.id} created.</strong> Copy it now: it is shown only once.
          <code data-testid="new-key-secret">{secret.key}</code>
          <CopyButton text={secret.key} />{' '}
          <button type="button" class="plain" onClick={() => setSecret(null)}>
            Done
          </button>
        </div>
      )}
      {error && (
        <p class="error" aria-live="polite">
          {error}
        </p>
      )}
      {/* Open by itself only on a gateway without keys, once the list has come: open while it loads, it used to close
          under whoever had started typing in it. */}
      <details class="panel" open={data !== null && data.data.length === 0}>
        <summary>Create a key</summary>
        <form class="form" onSubmit={create} data-testid="create-key">
          <label>
            Owner subject
            <input name="subject" required placeholder="app-or-person" />
          </label>
          <label>
            Team
            <input name="team" placeholder="optional" />
          </label>
          <label class="wide">
            Scopes
            <input name="scopes" required defaultValue="models:*" placeholder="models:llama-* models:bge-m3:embeddings admin" />
          </label>
          <label>
            Label
            <input name="label" placeholder="what it is for" />
          </label>
          <label>
            Expires in
            <input name="ttl" placeholder="e.g. 30d (empty: never)" />
          </label>
          <LimitInputs />
          <button type="submit" disabled={creating.busy}>
            Create key
          </button>
          <Problem message={creating.error} testId="create-key-error" />
        </form>
      </details>
      <div class="scroll">
        <table data-testid="keys-table">
          <thead>
            <tr>
              <th>key</th>
              <th>owner</th>
              <th>scopes</th>
              <th>limits</th>
              <th>status</th>
              <th>last used</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {data?.data.map((k) => (
              <tr key={k.id} data-key-id={k.id}>
                <td>
                  <code>{k.prefix}…</code>
                  <div class="muted small">{k.label}</div>
                </td>
                <td>
                  {k.subject}
                  {k.team && <div class="muted small">team {k.team}</div>}
                </td>
                <td class="small">{k.scopes.join(' ')}</td>
                <td class="small">
                  {/* A revoked key has no limits to edit: its form goes with its buttons (revoked here or elsewhere). */}
                  {editing === k.id && k.status !== 'revoked' ? (
                    <EditLimits k={k} reload={reload} onClose={() => setEditing(null)} />
                  ) : (
                    limitsText(k.limits)
                  )}
                </td>
                <td>
                  <span class={`badge ${k.status === 'active' ? 'ok' : 'bad'}`} data-testid="key-status">
                    {k.status}
                  </span>
                  {k.expires_at && k.status === 'active' && <div class="muted small">until {k.expires_at.slice(0, 10)}</div>}
                </td>
                <td class="small">{fmt.when(k.last_used_at)}</td>
                <td class="actions">
                  {k.status !== 'revoked' && (
                    <>
                      <button type="button" class="plain" onClick={() => setEditing(k.id)}>
                        Edit limits
                      </button>
                      <Revoke k={k} reload={reload} />
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
