/**
 * Fault injection specs: parsing the `x-sim-fault` header and the `sim_fault` body field, and merging the layers
 * (header over body over server-wide, key by key).
 */
import type { SimFault } from './types.js';

export const FAULT_HEADER = 'x-sim-fault';

const NUMBER_KEYS = [
  'status',
  'stall_before_first_ms',
  'stall_after_chunks',
  'drop_after_chunks',
  'error_after_chunks',
  'token_delay_ms',
] as const;

/** Keeps only well-typed known keys, so a malformed fault never crashes a request. */
export function normalizeFault(raw: unknown): SimFault {
  if (!raw || typeof raw !== 'object') return {};
  const r = raw as Record<string, unknown>;
  const out: SimFault = {};
  for (const k of NUMBER_KEYS) {
    const v = typeof r[k] === 'string' ? Number(r[k]) : r[k];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) out[k] = v;
  }
  if (typeof r['message'] === 'string') out.message = r['message'];
  const refuse = r['refuse'];
  if (refuse === true || refuse === 'true' || refuse === '1' || refuse === 1) out.refuse = true;
  const onFinal = r['usage_on_final_chunk'];
  if (onFinal === true || onFinal === 'true' || onFinal === '1' || onFinal === 1) out.usage_on_final_chunk = true;
  return out;
}

/** `status=503,drop_after_chunks=3,message=text%3Aoops`: values are URL-decoded, so a message may hold commas. */
export function parseFaultHeader(value: string | string[] | undefined): SimFault {
  if (!value) return {};
  const raw: Record<string, string> = {};
  for (const part of (Array.isArray(value) ? value.join(',') : value).split(',')) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    if (!key) continue;
    const v = eq < 0 ? 'true' : part.slice(eq + 1).trim();
    try {
      raw[key] = decodeURIComponent(v);
    } catch {
      raw[key] = v;
    }
  }
  return normalizeFault(raw);
}

export function mergeFaults(...layers: (SimFault | null | undefined)[]): SimFault {
  const out: SimFault = {};
  for (const l of layers) if (l) Object.assign(out, l);
  return out;
}

export function hasFault(f: SimFault): boolean {
  return Object.keys(f).length > 0;
}
