/** The admin credential lives in sessionStorage: it is gone when the tab closes and never leaves this origin. */
const TOKEN = 'infergate.console.token';

export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN),
  save: (t: string) => sessionStorage.setItem(TOKEN, t),
  clear: () => sessionStorage.removeItem(TOKEN),
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let onUnauthorized: () => void = () => {};
export function whenUnauthorized(fn: () => void): void {
  onUnauthorized = fn;
}

export async function api<T>(path: string, init: { method?: string; body?: unknown; accept?: string; token?: string } = {}): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${init.token ?? session.token() ?? ''}` };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (init.accept) headers.accept = init.accept;
  const res = await fetch(path, { method: init.method ?? 'GET', headers, body: init.body === undefined ? null : JSON.stringify(init.body) });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      message = ((await res.json()) as { error?: { message?: string } }).error?.message ?? message;
    } catch {
      // not the OpenAI envelope
    }
    if (res.status === 401 && !init.token) onUnauthorized();
    throw new ApiError(res.status, message);
  }
  return (init.accept === 'text/csv' ? await res.text() : await res.json()) as T;
}

export const fmt = {
  num(v: number | null | undefined, digits = 1): string {
    if (v === null || v === undefined || !Number.isFinite(v)) return '–';
    if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(digits)}M`;
    if (Math.abs(v) >= 1e4) return `${(v / 1e3).toFixed(digits)}k`;
    return Number.isInteger(v) ? String(v) : v.toFixed(digits);
  },
  ms(v: number | null | undefined): string {
    if (v === null || v === undefined) return '–';
    return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`;
  },
  pct(v: number | null | undefined): string {
    return v === null || v === undefined ? '–' : `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`;
  },
  when(iso: string | null): string {
    if (!iso) return '–';
    const d = new Date(iso);
    const ago = (Date.now() - d.getTime()) / 1000;
    if (ago >= 0 && ago < 90) return `${Math.round(ago)} s ago`;
    if (ago >= 0 && ago < 5400) return `${Math.round(ago / 60)} min ago`;
    return d.toISOString().replace('T', ' ').slice(0, 16);
  },
};
