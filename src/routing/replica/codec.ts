/**
 * The wire form of the replica exchange: JSON (a batch is built and parsed off the request path, every 50-100 ms),
 * with prefix keys packed as little-endian int32 in base64 (4/3 × 4 bytes a key instead of up to 12 as JSON text).
 */

/** A backend's load as one replica's own accounting has it (the BackendState fields routing scores on). */
export const LOAD_FIELDS = ['inFlight', 'uncachedInFlight', 'pendingTokens', 'pendingAttn', 'decoding', 'decodeContext', 'remainingOutput'] as const;
export type LoadVector = Float64Array;

/** One session's last finished turn: where it ran, how long its prompt was, what it generated. */
export type TurnWire = [session: string, backendId: string, promptChars: number, outputTokens: number];

export interface Batch {
  /** Sender's replica id (a random id per process). */
  readonly r: string;
  /** Prefix keys routed to a backend since the last batch (base64 int32), by backend id. */
  readonly k?: Record<string, string>;
  /** In-flight load per backend id (LOAD_FIELDS order); sent when it changed or is not zero. */
  readonly l?: Record<string, number[]>;
  readonly s?: TurnWire[];
}

export interface Snapshot {
  /** Every prefix key of every backend's twin, least recently used first. */
  readonly k: Record<string, string>;
  readonly s: TurnWire[];
}

export function packKeys(keys: Iterable<number>, count: number): string {
  const buf = Buffer.allocUnsafe(count * 4);
  let o = 0;
  for (const k of keys) {
    if (o >= buf.length) break;
    buf.writeInt32LE(k, o);
    o += 4;
  }
  return buf.toString('base64', 0, o);
}

export function unpackKeys(text: string): number[] {
  const buf = Buffer.from(text, 'base64');
  const out = new Array<number>(buf.length >>> 2);
  for (let i = 0; i < out.length; i++) out[i] = buf.readInt32LE(i * 4);
  return out;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses a peer's batch; null for anything malformed (a peer of another version is ignored, never trusted). */
export function parseBatch(text: string): Batch | null {
  try {
    const v: unknown = JSON.parse(text);
    if (!isObj(v) || typeof v.r !== 'string') return null;
    if (v.k !== undefined && !isObj(v.k)) return null;
    if (v.l !== undefined && !isObj(v.l)) return null;
    if (v.s !== undefined && !Array.isArray(v.s)) return null;
    return v as unknown as Batch;
  } catch {
    return null;
  }
}

export function parseSnapshot(text: string): Snapshot | null {
  try {
    const v: unknown = JSON.parse(text);
    if (!isObj(v) || !isObj(v.k) || !Array.isArray(v.s)) return null;
    return v as unknown as Snapshot;
  } catch {
    return null;
  }
}

export function isTurn(t: unknown): t is TurnWire {
  return Array.isArray(t) && t.length === 4 && typeof t[0] === 'string' && typeof t[1] === 'string' && typeof t[2] === 'number' && typeof t[3] === 'number';
}
