import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { api, session, whenUnauthorized } from './api.js';
import { Config } from './pages/config.js';
import { Fleet } from './pages/fleet.js';
import { Keys } from './pages/keys.js';
import { Live } from './pages/live.js';
import { Usage } from './pages/usage.js';

const PAGES = ['live', 'fleet', 'usage', 'keys', 'config'] as const;
type Page = (typeof PAGES)[number];

const pageOf = (): Page => {
  const h = location.hash.slice(1) as Page;
  return PAGES.includes(h) ? h : 'live';
};

// `?refresh=ms` polls faster (tests, a wall display); every few seconds otherwise.
const REFRESH_MS = Math.max(500, Number(new URLSearchParams(location.search).get('refresh')) || 3000);

function Login({ onDone }: { onDone: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main class="login">
      <h1>infergate</h1>
      <form
        data-testid="login"
        onSubmit={async (e) => {
          e.preventDefault();
          const token = ((e.target as HTMLFormElement).elements.namedItem('token') as HTMLInputElement).value.trim();
          setBusy(true);
          try {
            // Any admin-only read proves the credential; it is kept for this tab only.
            await api('/console/api/fleet', { token });
            session.save(token);
            onDone();
          } catch (err) {
            setError((err as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label>
          Admin token or API key
          <input name="token" type="password" autoComplete="off" required placeholder="eyJ… or sk-ig-…" />
        </label>
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <p class="muted small">A JWT or gateway key with the admin scope. Kept in this tab's session storage only.</p>
      </form>
    </main>
  );
}

function App() {
  const [signedIn, setSignedIn] = useState(session.token() !== null);
  const [page, setPage] = useState<Page>(pageOf());
  useEffect(() => {
    const onHash = () => setPage(pageOf());
    addEventListener('hashchange', onHash);
    whenUnauthorized(() => {
      session.clear();
      setSignedIn(false);
    });
    return () => removeEventListener('hashchange', onHash);
  }, []);
  if (!signedIn) return <Login onDone={() => setSignedIn(true)} />;
  return (
    <>
      <header>
        <strong class="brand">infergate</strong>
        <nav>
          {PAGES.map((p) => (
            <a key={p} href={`#${p}`} class={p === page ? 'active' : ''} data-testid={`nav-${p}`}>
              {p[0]!.toUpperCase() + p.slice(1)}
            </a>
          ))}
        </nav>
        <button
          type="button"
          class="plain"
          onClick={() => {
            session.clear();
            setSignedIn(false);
          }}
        >
          Sign out
        </button>
      </header>
      <main data-testid={`page-${page}`}>
        {page === 'live' && <Live refreshMs={REFRESH_MS} />}
        {page === 'fleet' && <Fleet refreshMs={REFRESH_MS} />}
        {page === 'usage' && <Usage />}
        {page === 'keys' && <Keys />}
        {page === 'config' && <Config />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
