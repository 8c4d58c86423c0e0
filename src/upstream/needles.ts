/** The byte searches the SSE relay makes in each event, bounded to the event or linear over the chunk. */
import { skipJsonSpace } from '../core/index.js';
import { keyAt, type JsonKey } from './json-key.js';

/**
 * Whether `needle` occurs inside buf[start, end), searched for in that range only: a search from `start` runs to the
 * end of the buffer when the needle is absent, which for every short event of a coalesced read (16 KiB of `:\n\n`
 * comments) would be quadratic.
 */
export function has(buf: Buffer, start: number, end: number, needle: Buffer): boolean {
  const n = needle.length;
  if (end - start < n) return false;
  if (end - start > 64) return buf.subarray(start, end).indexOf(needle) !== -1;
  for (let at = start; at + n <= end; at++) {
    let k = 0;
    while (k < n && buf[at + k] === needle[k]) k++;
    if (k === n) return true;
  }
  return false;
}

/**
 * Whether `needle` occurs inside buf[start, end). The position of the next occurrence is remembered, so the events of
 * one chunk, visited in order, cost one search of the chunk per needle (not one search of the rest of the chunk per
 * event, which is quadratic when a backend's events arrive coalesced in one read).
 */
export class Needle {
  #buf: Buffer | null = null;
  #at = -1;
  /**
   * At most 6 bytes are searched for natively, the rest compared here: from 7 bytes on the native search counts
   * misses and switches to Boyer-Moore-Horspool, which builds its tables on every call (`{"error"` across the fast
   * simulator's 3.6 KB stream: 1.4 µs; `{"erro`: 0.4 µs).
   */
  readonly #head: Buffer;
  constructor(readonly bytes: Buffer) {
    this.#head = bytes.subarray(0, 6);
  }
  in(buf: Buffer, start: number, end: number): boolean {
    if (buf !== this.#buf || (this.#at !== -1 && this.#at < start)) {
      this.#buf = buf;
      this.#at = this.#find(buf, start);
    }
    return this.#at !== -1 && this.#at + this.bytes.length <= end;
  }
  #find(buf: Buffer, from: number): number {
    const n = this.bytes.length;
    const h = this.#head.length;
    for (let at = buf.indexOf(this.#head, from); at !== -1; at = buf.indexOf(this.#head, at + 1)) {
      let k = h;
      while (k < n && buf[at + k] === this.bytes[k]) k++;
      if (k === n) return at;
    }
    return -1;
  }
}

/**
 * Whether a JSON key whose value starts with `value` (`{` for an object, `"` for a string) occurs inside buf[start,
 * end), spaces around the colon allowed. One search per key instead of one per spacing variant (each search of a
 * multi-byte needle costs a native call of ~200 ns, paid per event when an engine writes one event per chunk); the
 * next match is remembered as in Needle. The key is searched for as keyAt does (without its opening quote).
 */
export class KeyNeedle {
  #buf: Buffer | null = null;
  /** Where the key's opening quote is, or -1. */
  #at = -1;
  #valueEnd = -1;
  constructor(
    readonly key: JsonKey,
    readonly value: number,
  ) {}
  in(buf: Buffer, start: number, end: number): boolean {
    if (buf !== this.#buf || (this.#at !== -1 && this.#at < start)) {
      this.#buf = buf;
      this.#find(buf, start);
    }
    return this.#at !== -1 && this.#valueEnd <= end;
  }
  #find(buf: Buffer, from: number): void {
    let at = keyAt(buf, this.key, from);
    while (at !== -1) {
      // Any JSON whitespace around the colon, as the readers behind this search (findUsage, fixFinishReasons) accept.
      let i = skipJsonSpace(buf, at + this.key.bytes.length);
      if (buf[i] === 0x3a) {
        i = skipJsonSpace(buf, i + 1);
        if (buf[i] === this.value) {
          this.#at = at;
          this.#valueEnd = i + 1;
          return;
        }
      }
      at = keyAt(buf, this.key, at + 1);
    }
    this.#at = -1;
  }
}

const DATA_FIELD = Buffer.from('data:');
const OBJECT_KEY = Buffer.from('"object"');
const ERROR_VALUE = Buffer.from('"error"');

function bytesAt(buf: Buffer, i: number, end: number, want: Buffer): boolean {
  if (end - i < want.length) return false;
  for (let k = 0; k < want.length; k++) if (buf[i + k] !== want[k]) return false;
  return true;
}

/**
 * Whether the event's data is an object whose first key is `"object": "error"`: SGLang's error event, flat where vLLM
 * and llama.cpp nest theirs under `error`. A prefix check, so a normal chunk (`data: {"id":…`) is rejected within a
 * few bytes; an `"object":"error"` inside a string is escaped and cannot match.
 */
export function startsWithObjectError(buf: Buffer, start: number, end: number): boolean {
  if (!bytesAt(buf, start, end, DATA_FIELD)) return false;
  let i = start + DATA_FIELD.length;
  if (buf[i] === 0x20) i++; // SSE: one optional space after the colon
  if (buf[i] !== 0x7b) return false; // {
  i = skipJsonSpace(buf, i + 1, end);
  if (!bytesAt(buf, i, end, OBJECT_KEY)) return false;
  i = skipJsonSpace(buf, i + OBJECT_KEY.length, end);
  if (buf[i] !== 0x3a) return false; // :
  return bytesAt(buf, skipJsonSpace(buf, i + 1, end), end, ERROR_VALUE);
}
