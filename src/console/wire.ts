/**
 * The JSON the console's pages read, as plain types with no imports, so the browser code (web/) and the server
 * code share them without the browser build seeing any Node module. `ApiKeyWire` mirrors the admin API's key view
 * (src/auth/keys/record.ts KeyView); test/console checks the page against the real API, so a drift shows there.
 */
export type ErrorClass = 'client_error' | 'unauthorized' | 'rate_limited' | 'upstream_error' | 'client_abort';

export interface LiveSeries {
  /** Slot start times (epoch seconds, as uPlot takes them). */
  t: number[];
  rps: number[];
  tokensInPerS: number[];
  tokensOutPerS: number[];
  errorsPerS: Record<ErrorClass, number[]>;
  ttftP50: (number | null)[];
  ttftP99: (number | null)[];
  e2eP50: (number | null)[];
  e2eP99: (number | null)[];
}

export interface LiveModelRow {
  model: string;
  requests: number;
  rps: number;
  tokensInPerS: number;
  tokensOutPerS: number;
  ttft: { p50: number | null; p99: number | null };
  e2e: { p50: number | null; p99: number | null };
  /** Share of requests that ended in each error class. */
  errorRate: Record<ErrorClass, number>;
}

export interface LiveSnapshot {
  object: 'console.live';
  at: string;
  slotMs: number;
  /** The window the `models` rows cover (the last complete minute plus the current slot). */
  windowS: number;
  series: LiveSeries;
  /** All models over the last 30 seconds or so (the current slot and the two before it): the page's cards. */
  current: LiveModelRow;
  models: LiveModelRow[];
}

export interface FleetBackend {
  id: string;
  url: string;
  models: string[];
  kind: string;
  status: string;
  healthy: boolean;
  inFlight: number;
  /** The engine's own queue and KV-cache use from the router's last scrape; null when the engine does not say. */
  running: number | null;
  waiting: number | null;
  kvUsage: number | null;
  /** Prefix-cache hits / queries (tokens) since the engine started; null when it does not export them. */
  prefixHitRate: number | null;
  scrapeAgeMs: number | null;
  ejections: number;
  lastDown: { status: string; reason: string; at: string; forMs: number | null } | null;
}

export interface FleetSnapshot {
  object: 'console.fleet';
  at: string;
  /** Requests waiting in the gateway queue for a backend. */
  queued: number;
  backends: FleetBackend[];
}

export interface KeyLimitsWire {
  rpm?: number;
  tpm?: number;
  concurrency?: number;
  tokens_per_day?: number;
  tokens_per_month?: number;
}

export interface ApiKeyWire {
  id: string;
  prefix: string;
  subject: string;
  team: string | null;
  scopes: readonly string[];
  label: string;
  limits: KeyLimitsWire;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  status: 'active' | 'expired' | 'revoked';
}
