import { redactUrl } from '../core/index.js';

/** Keys whose values are secrets wherever they appear in the config; shown as a mask, never sent to a browser. */
const SECRET_KEY = /(secret|password|passwd|pepper|api_?key|token|credential|private)/i;
const MASK = '••••••';

/** A deep copy of the config with every secret value masked (and a key naming a file kept: it is not the secret). */
export function maskSecrets(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, key));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = maskSecrets(v, k);
    return out;
  }
  if (typeof value !== 'string' || value.length === 0) return value;
  if (SECRET_KEY.test(key) && !/_file$|_size$|_bytes$/.test(key)) return MASK;
  // A password inside a URL (redis://:pass@host, ?password=…) whatever the key is called.
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? redactUrl(value, MASK) : value;
}

export interface ConfigStatus {
  source: string;
  loadedAtMs: number;
  lastReloadError: { atMs: number; problems: string[] } | null;
}

export function configView(raw: unknown, status: ConfigStatus) {
  return {
    object: 'console.config',
    source: status.source,
    loaded_at: new Date(status.loadedAtMs).toISOString(),
    last_reload_error: status.lastReloadError
      ? { at: new Date(status.lastReloadError.atMs).toISOString(), problems: status.lastReloadError.problems }
      : null,
    config: maskSecrets(raw),
  };
}
