import { decode } from '@msgpack/msgpack';

/**
 * vLLM's KV-cache events as they arrive (vllm/distributed/kv_events.py): a msgpack KVEventBatch, an array
 * [ts, events, data_parallel_rank?], each event tagged. msgspec encodes the tagged structs as arrays
 * ["BlockStored", block_hashes, parent_block_hash, token_ids, block_size, lora_id, medium, …] (trailing default fields
 * may be left out) and newer versions as maps {type: "BlockStored", block_hashes: …}: both are read. A block hash is an
 * integer or bytes (ExternalBlockHash), kept as an opaque string key; fields added by later versions are ignored.
 */
export type KvEvent =
  | { readonly type: 'stored'; readonly hashes: readonly string[]; readonly parent: string | null; readonly tokens: readonly number[]; readonly blockSize: number; readonly gpu: boolean }
  | { readonly type: 'removed'; readonly hashes: readonly string[]; readonly gpu: boolean }
  | { readonly type: 'cleared' };

export interface KvEventBatch {
  readonly ts: number;
  readonly events: readonly KvEvent[];
}

const STORED_FIELDS = ['block_hashes', 'parent_block_hash', 'token_ids', 'block_size', 'lora_id', 'medium'] as const;
const REMOVED_FIELDS = ['block_hashes', 'medium'] as const;

/** An opaque key for a block hash (int, big int or bytes); null when it is none of them. */
export function hashKey(h: unknown): string | null {
  if (typeof h === 'number' || typeof h === 'bigint') return String(h);
  if (h instanceof Uint8Array) return `b${Buffer.from(h.buffer, h.byteOffset, h.byteLength).toString('hex')}`;
  return null;
}

function hashList(v: unknown): string[] | null {
  if (!Array.isArray(v)) return null;
  const out: string[] = [];
  for (const h of v) {
    const k = hashKey(h);
    if (k === null) return null;
    out.push(k);
  }
  return out;
}

/** Only blocks on the GPU count for prefix hits (a medium of null is the GPU in versions before offloading). */
const onGpu = (medium: unknown): boolean => medium === undefined || medium === null || (typeof medium === 'string' && medium.toUpperCase() === 'GPU');

function fields(e: unknown, names: readonly string[]): { tag: string; f: unknown[] } | null {
  if (Array.isArray(e) && typeof e[0] === 'string') return { tag: e[0], f: e.slice(1) };
  if (e && typeof e === 'object' && typeof (e as { type?: unknown }).type === 'string') {
    const o = e as Record<string, unknown>;
    return { tag: o.type as string, f: names.map((n) => o[n]) };
  }
  return null;
}

function event(e: unknown): KvEvent | null {
  const tag = Array.isArray(e) ? e[0] : (e as { type?: unknown } | null)?.type;
  if (tag === 'BlockStored') {
    const x = fields(e, STORED_FIELDS);
    const hashes = hashList(x?.f[0]);
    const parent = x?.f[1] === null || x?.f[1] === undefined ? null : hashKey(x.f[1]);
    const tokens = x?.f[2];
    const blockSize = x?.f[3];
    if (!hashes || !Array.isArray(tokens) || typeof blockSize !== 'number' || blockSize < 1) return null;
    if (tokens.length !== hashes.length * blockSize || !tokens.every((t) => typeof t === 'number')) return null;
    return { type: 'stored', hashes, parent, tokens: tokens as number[], blockSize, gpu: onGpu(x?.f[5]) };
  }
  if (tag === 'BlockRemoved') {
    const x = fields(e, REMOVED_FIELDS);
    const hashes = hashList(x?.f[0]);
    return hashes ? { type: 'removed', hashes, gpu: onGpu(x?.f[1]) } : null;
  }
  if (tag === 'AllBlocksCleared') return { type: 'cleared' };
  return null;
}

/** Decodes one payload; null when it is not a KVEventBatch (unknown event types inside one are skipped). */
export function decodeBatch(payload: Uint8Array): KvEventBatch | null {
  let v: unknown;
  try {
    v = decode(payload, { useBigInt64: true });
  } catch {
    return null;
  }
  const arr = Array.isArray(v) ? v : v && typeof v === 'object' ? [(v as Record<string, unknown>).ts, (v as Record<string, unknown>).events] : null;
  if (!arr || !Array.isArray(arr[1])) return null;
  const events: KvEvent[] = [];
  for (const e of arr[1] as unknown[]) {
    const ev = event(e);
    if (ev) events.push(ev);
  }
  return { ts: typeof arr[0] === 'number' ? arr[0] : 0, events };
}
