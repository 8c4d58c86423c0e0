/**
 * The bounded request log: what the simulator received and whether the client stayed to the end. Tests use it to see
 * what the gateway forwarded (headers, the exact body bytes) and whether a client disconnect reached the backend.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { SimLogEntry, SimRequestLog } from './types.js';

const CAPACITY = 1000;

export interface RequestLogWriter extends SimRequestLog {
  /** Records a new request; returns the live entry (mutate it, then call touched()). */
  add(entry: SimLogEntry): SimLogEntry;
  /** Wakes waitFor() callers after an entry changed. */
  touched(entry: SimLogEntry): void;
}

export function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

export function createRequestLog(): RequestLogWriter {
  const entries: SimLogEntry[] = [];
  const waiters = new Set<(e: SimLogEntry) => void>();
  return {
    entries,
    clear() {
      entries.length = 0;
    },
    add(entry) {
      entries.push(entry);
      if (entries.length > CAPACITY) entries.shift();
      for (const w of [...waiters]) w(entry);
      return entry;
    },
    touched(entry) {
      for (const w of [...waiters]) w(entry);
    },
    waitFor(pred, timeoutMs = 2000) {
      const hit = entries.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise<SimLogEntry>((resolve, reject) => {
        const waiter = (e: SimLogEntry): void => {
          if (!pred(e)) return;
          waiters.delete(waiter);
          clearTimeout(timer);
          resolve(e);
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`sim log: no matching entry within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
  };
}
