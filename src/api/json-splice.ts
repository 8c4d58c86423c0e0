/**
 * Edits a JSON request body at the byte level so that everything the gateway does not change reaches the backend
 * exactly as the client sent it: a 64-bit `seed`, a float's spelling, key order and unknown vendor fields survive,
 * which `JSON.parse` + `JSON.stringify` would break. The body has already been validated by JSON.parse.
 */
import { closingBracket, isJsonSpace, skipJsonSpace, skipJsonString } from '../core/index.js';

export interface KeySpan {
  /** Byte offset of the value's first byte and one past its last. */
  valueStart: number;
  valueEnd: number;
}

function skipValue(buf: Buffer, i: number): number {
  const c = buf[i];
  if (c === 0x22) return skipJsonString(buf, i);
  if (c === 0x7b || c === 0x5b) {
    const close = closingBracket(buf, i);
    return close < 0 ? buf.length : close + 1;
  }
  while (i < buf.length && buf[i] !== 0x2c && buf[i] !== 0x7d && buf[i] !== 0x5d && !isJsonSpace(buf[i])) i++;
  return i;
}

/**
 * The wanted key the bytes from start to end (a key between its quotes) stand for, or null. A key without escapes is
 * compared byte by byte with each key's char codes, which is what comparing their latin1 decoding would do, without
 * making a string of every key in the body; a key with escapes is decoded first, as JSON.parse and the engines' own
 * parsers (Python's json, serde) read it: `"mod\u0065l"` is `model` to them.
 */
function wantedKey(buf: Buffer, start: number, end: number, keys: readonly string[]): string | null {
  const len = end - start;
  let escaped = false;
  for (let j = start; j < end && !escaped; j++) escaped = buf[j] === 0x5c;
  if (escaped) {
    let decoded: unknown;
    try {
      decoded = JSON.parse(buf.toString('utf8', start - 1, end + 1));
    } catch {
      return null;
    }
    return keys.find((k) => k === decoded) ?? null;
  }
  for (const k of keys) {
    if (k.length !== len) continue;
    let j = 0;
    while (j < len && buf[start + j] === k.charCodeAt(j)) j++;
    if (j === len) return k;
  }
  return null;
}

/**
 * Value spans of the wanted top-level keys, every occurrence of each in body order. A key spelled with escapes is the
 * key it decodes to. A repeated key is read as its last occurrence by JSON.parse and Python, as its first by other
 * parsers: an edit replaces every occurrence, so the gateway and every backend read the value it wrote.
 */
export function topLevelSpans(buf: Buffer, keys: readonly string[]): Map<string, KeySpan[]> {
  const found = new Map<string, KeySpan[]>();
  let i = skipJsonSpace(buf, 0);
  if (buf[i] !== 0x7b) return found;
  i = skipJsonSpace(buf, i + 1);
  while (i < buf.length && buf[i] === 0x22) {
    const keyEnd = skipJsonString(buf, i);
    const key = wantedKey(buf, i + 1, keyEnd - 1, keys);
    i = skipJsonSpace(buf, keyEnd);
    if (buf[i] !== 0x3a) break;
    i = skipJsonSpace(buf, i + 1);
    const valueStart = i;
    i = skipValue(buf, i);
    if (key !== null) {
      const spans = found.get(key);
      if (spans) spans.push({ valueStart, valueEnd: i });
      else found.set(key, [{ valueStart, valueEnd: i }]);
    }
    i = skipJsonSpace(buf, i);
    if (buf[i] !== 0x2c) break;
    i = skipJsonSpace(buf, i + 1);
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
 * closing brace. Returns the original buffer when there is nothing to change. The result is written into one buffer
 * of its exact size (a subarray per kept segment, a Buffer per value and a concat allocated ~0.4 KB more per edit).
 */
export function applyEdits(buf: Buffer, edits: readonly Edit[]): Buffer {
  if (edits.length === 0) return buf;
  const spans = topLevelSpans(
    buf,
    edits.map((e) => e.key),
  );
  const replace: { edit: Edit; span: KeySpan }[] = [];
  for (const edit of edits) for (const span of spans.get(edit.key) ?? []) replace.push({ edit, span });
  replace.sort((a, b) => a.span.valueStart - b.span.valueStart);
  const append = edits.filter((e) => !spans.has(e.key));
  let close = buf.length;
  let appended = '';
  if (append.length > 0) {
    close = closingBrace(buf);
    const text = append.map((e) => `${JSON.stringify(e.key)}:${e.value}`).join(',');
    appended = isEmptyBefore(buf, close) ? text : `,${text}`;
  }
  let size = buf.length + Buffer.byteLength(appended);
  for (const { edit, span } of replace) size += Buffer.byteLength(edit.value) - (span.valueEnd - span.valueStart);
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  let at = 0;
  for (const { edit, span } of replace) {
    at += buf.copy(out, at, pos, span.valueStart);
    at += out.write(edit.value, at);
    pos = span.valueEnd;
  }
  if (append.length > 0) {
    at += buf.copy(out, at, pos, close);
    at += out.write(appended, at);
    pos = close;
  }
  buf.copy(out, at, pos);
  return out;
}

/** Where the object's closing brace is: its last `}`. */
function closingBrace(buf: Buffer): number {
  let close = buf.length - 1;
  while (close >= 0 && buf[close] !== 0x7d) close--;
  return close;
}

/** Whether the object closed at `close` has no member (only whitespace after its opening brace). */
function isEmptyBefore(buf: Buffer, close: number): boolean {
  let before = close - 1;
  while (before >= 0 && isJsonSpace(buf[before])) before--;
  return buf[before] === 0x7b;
}

/**
 * Appends a member (`"key":value` as JSON text) that the body is known not to have, with the bytes applyEdits would
 * write, but without walking the body: the caller knows from the parsed body (JSON.parse keeps every top-level key,
 * so a key it lacks is nowhere at top level), and a long prompt then costs nothing to scan.
 */
export function appendAbsent(buf: Buffer, member: Buffer): Buffer {
  const close = closingBrace(buf);
  const comma = isEmptyBefore(buf, close) ? 0 : 1;
  const out = Buffer.allocUnsafe(buf.length + comma + member.length);
  let at = buf.copy(out, 0, 0, close);
  if (comma) out[at++] = 0x2c;
  at += member.copy(out, at);
  buf.copy(out, at, close);
  return out;
}
