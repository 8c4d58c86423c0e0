/**
 * Edits a JSON request body at the byte level so that everything the gateway does not change reaches the backend
 * exactly as the client sent it: a 64-bit `seed`, a float's spelling, key order and unknown vendor fields survive,
 * which `JSON.parse` + `JSON.stringify` would break. The body has already been validated by JSON.parse.
 */
export interface KeySpan {
  /** Byte offset of the value's first byte and one past its last. */
  valueStart: number;
  valueEnd: number;
}

const WS = new Uint8Array(256);
WS[0x20] = WS[0x0a] = WS[0x0d] = WS[0x09] = 1;

function skipWs(buf: Buffer, i: number): number {
  while (i < buf.length && WS[buf[i]!]) i++;
  return i;
}

function skipString(buf: Buffer, i: number): number {
  // buf[i] is the opening quote
  for (i++; i < buf.length; i++) {
    const c = buf[i]!;
    if (c === 0x5c) i++;
    else if (c === 0x22) return i + 1;
  }
  return i;
}

function skipValue(buf: Buffer, i: number): number {
  const c = buf[i];
  if (c === 0x22) return skipString(buf, i);
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (; i < buf.length; i++) {
      const d = buf[i]!;
      if (d === 0x22) {
        i = skipString(buf, i) - 1;
        continue;
      }
      if (d === 0x7b || d === 0x5b) depth++;
      else if ((d === 0x7d || d === 0x5d) && --depth === 0) return i + 1;
    }
    return i;
  }
  while (i < buf.length && buf[i] !== 0x2c && buf[i] !== 0x7d && buf[i] !== 0x5d && !WS[buf[i]!]) i++;
  return i;
}

/**
 * Value spans of the wanted top-level keys. Keys are compared as raw bytes, which is exact for the ASCII keys the
 * gateway edits (a key spelled with escapes is treated as a different key, as a lenient parser would).
 * When a key repeats, the last occurrence wins, matching JSON.parse.
 */
export function topLevelSpans(buf: Buffer, keys: readonly string[]): Map<string, KeySpan> {
  const found = new Map<string, KeySpan>();
  let i = skipWs(buf, 0);
  if (buf[i] !== 0x7b) return found;
  i = skipWs(buf, i + 1);
  while (i < buf.length && buf[i] === 0x22) {
    const keyEnd = skipString(buf, i);
    const key = buf.toString('latin1', i + 1, keyEnd - 1);
    i = skipWs(buf, keyEnd);
    if (buf[i] !== 0x3a) break;
    i = skipWs(buf, i + 1);
    const valueStart = i;
    i = skipValue(buf, i);
    if (keys.includes(key)) found.set(key, { valueStart, valueEnd: i });
    i = skipWs(buf, i);
    if (buf[i] !== 0x2c) break;
    i = skipWs(buf, i + 1);
  }
  return found;
}

export interface Edit {
  key: string;
  /** Replacement value as JSON text. */
  value: string;
}

/**
 * Applies edits: a key present at top level has its value replaced in place; an absent key is appended before the
 * closing brace. Returns the original buffer when there is nothing to change.
 */
export function applyEdits(buf: Buffer, edits: readonly Edit[]): Buffer {
  if (edits.length === 0) return buf;
  const spans = topLevelSpans(
    buf,
    edits.map((e) => e.key),
  );
  const replace = edits.filter((e) => spans.has(e.key)).sort((a, b) => spans.get(a.key)!.valueStart - spans.get(b.key)!.valueStart);
  const append = edits.filter((e) => !spans.has(e.key));
  const parts: Buffer[] = [];
  let pos = 0;
  for (const e of replace) {
    const s = spans.get(e.key)!;
    parts.push(buf.subarray(pos, s.valueStart), Buffer.from(e.value, 'utf8'));
    pos = s.valueEnd;
  }
  if (append.length > 0) {
    let close = buf.length - 1;
    while (close >= 0 && buf[close] !== 0x7d) close--;
    let before = close - 1;
    while (before >= 0 && WS[buf[before]!]) before--;
    const empty = buf[before] === 0x7b;
    parts.push(buf.subarray(pos, close));
    const text = append.map((e) => `${JSON.stringify(e.key)}:${e.value}`).join(',');
    parts.push(Buffer.from(empty ? text : `,${text}`, 'utf8'));
    pos = close;
  }
  parts.push(buf.subarray(pos));
  return Buffer.concat(parts);
}
