/**
 * Reads the token counts out of a usage object's bytes without JSON.parse. A usage object is a few dozen bytes of
 * keys and small integers, and every stream carries one: `buf.toString` plus `JSON.parse` of it cost 2-3 µs. Only what
 * JSON.parse would accept, with the same result, is read here; anything else (an escape in a string, a fraction, an
 * exponent, a negative or long number, an array, deeper nesting, a byte out of place) is left to JSON.parse.
 */
import { skipJsonSpace as skipWs } from '../core/index.js';

/** The counts a usage object gives; -1 where the key is absent or holds something other than a number. */
export interface UsageFields {
  prompt: number;
  input: number;
  completion: number;
  output: number;
  /** prompt_tokens_details.cached_tokens, of the details object given last. */
  cached: number;
  /** input_tokens_details.cached_tokens (the Responses API's spelling), of the details object given last. */
  inputCached: number;
  /** Anthropic's cache_read_input_tokens and cache_creation_input_tokens (not part of its input_tokens). */
  cacheRead: number;
  cacheCreation: number;
}

const UNSURE = -1;
const EMPTY = Buffer.alloc(0);

const enum K {
  Other,
  Prompt,
  Input,
  Completion,
  Output,
  Details,
  Cached,
  InputDetails,
  InputCached,
  CacheRead,
  CacheCreation,
}

function same(buf: Buffer, at: number, word: string): boolean {
  for (let k = 0; k < word.length; k++) if (buf[at + k] !== word.charCodeAt(k)) return false;
  return true;
}

/** Which key of interest the string buf[s, e) is; compared by length first, without decoding. */
function keyOf(buf: Buffer, s: number, e: number, depth: number): K {
  const len = e - s;
  if (depth !== 0) return len === 13 && same(buf, s, 'cached_tokens') ? (depth === 1 ? K.Cached : K.InputCached) : K.Other;
  if (len === 20) return same(buf, s, 'input_tokens_details') ? K.InputDetails : K.Other;
  if (len === 12) return same(buf, s, 'input_tokens') ? K.Input : K.Other;
  if (len === 13) return same(buf, s, 'prompt_tokens') ? K.Prompt : same(buf, s, 'output_tokens') ? K.Output : K.Other;
  if (len === 17) return same(buf, s, 'completion_tokens') ? K.Completion : K.Other;
  if (len === 21) return same(buf, s, 'prompt_tokens_details') ? K.Details : K.Other;
  if (len === 23) return same(buf, s, 'cache_read_input_tokens') ? K.CacheRead : K.Other;
  if (len === 27) return same(buf, s, 'cache_creation_input_tokens') ? K.CacheCreation : K.Other;
  return K.Other;
}

function literal(buf: Buffer, i: number, end: number, word: string): number {
  return i + word.length <= end && same(buf, i, word) ? i + word.length : UNSURE;
}

/** One reader per thread is enough: a read is synchronous, and its state lives in fields, so nothing is allocated. */
export class UsageReader {
  readonly f: UsageFields = { prompt: -1, input: -1, completion: -1, output: -1, cached: -1, inputCached: -1, cacheRead: -1, cacheCreation: -1 };
  #buf: Buffer = EMPTY;
  #end = 0;
  #num = 0;
  #strStart = 0;
  #strEnd = 0;

  /** Reads the object buf[open, close] (both braces included) into `f`. False: not sure, let JSON.parse decide. */
  read(buf: Buffer, open: number, close: number): boolean {
    const f = this.f;
    f.prompt = f.input = f.completion = f.output = f.cached = f.inputCached = f.cacheRead = f.cacheCreation = -1;
    this.#buf = buf;
    this.#end = close + 1;
    const ok = this.#object(open, 0) === close + 1;
    this.#buf = EMPTY; // hold no response bytes between calls
    return ok;
  }

  /**
   * The index after the object at i, or UNSURE. depth 0: the usage object; 1: its prompt_tokens_details; 3: its
   * input_tokens_details; 2: any other child.
   */
  #object(i: number, depth: number): number {
    const buf = this.#buf;
    const end = this.#end;
    if (buf[i] !== 0x7b) return UNSURE;
    i = skipWs(buf, i + 1, end);
    if (buf[i] === 0x7d) return i + 1;
    for (;;) {
      if (buf[i] !== 0x22) return UNSURE;
      i = this.#string(i);
      if (i < 0) return UNSURE;
      const key = depth === 2 ? K.Other : keyOf(buf, this.#strStart, this.#strEnd, depth);
      i = skipWs(buf, i, end);
      if (buf[i] !== 0x3a) return UNSURE;
      i = this.#value(skipWs(buf, i + 1, end), key, depth);
      if (i < 0) return UNSURE;
      i = skipWs(buf, i, end);
      const c = buf[i];
      if (c === 0x7d) return i + 1;
      if (c !== 0x2c) return UNSURE;
      i = skipWs(buf, i + 1, end);
    }
  }

  #value(i: number, key: K, depth: number): number {
    const buf = this.#buf;
    const end = this.#end;
    const c = buf[i];
    let num = -1;
    let next: number;
    if (c !== undefined && c >= 0x30 && c <= 0x39) {
      next = this.#number(i);
      num = this.#num;
    } else if (c === 0x7b) {
      if (depth > 0) return UNSURE; // deeper than a usage object goes
      if (key === K.Details) {
        this.f.cached = -1; // a later details object replaces an earlier one: its count starts afresh
        return this.#object(i, 1);
      }
      if (key === K.InputDetails) {
        this.f.inputCached = -1;
        return this.#object(i, 3);
      }
      next = this.#object(i, 2); // an object where a count is expected is not a number: the field reads -1 below
    } else if (c === 0x22) next = this.#string(i);
    else if (c === 0x6e) next = literal(buf, i, end, 'null');
    else if (c === 0x74) next = literal(buf, i, end, 'true');
    else if (c === 0x66) next = literal(buf, i, end, 'false');
    else return UNSURE;
    if (next < 0) return UNSURE;
    const f = this.f;
    if (key === K.Prompt) f.prompt = num;
    else if (key === K.Input) f.input = num;
    else if (key === K.Completion) f.completion = num;
    else if (key === K.Output) f.output = num;
    else if (key === K.Cached) f.cached = num;
    else if (key === K.CacheRead) f.cacheRead = num;
    else if (key === K.CacheCreation) f.cacheCreation = num;
    else if (key === K.Details) f.cached = -1; // details that are not an object: no cached count
    else if (key === K.InputCached) f.inputCached = num;
    else if (key === K.InputDetails) f.inputCached = -1;
    return next;
  }

  /** A non-negative integer of at most 15 digits (exact as a double), into #num. */
  #number(i: number): number {
    const buf = this.#buf;
    const end = this.#end;
    const first = i;
    let n = 0;
    while (i < end) {
      const c = buf[i]!;
      if (c < 0x30 || c > 0x39) break;
      n = n * 10 + (c - 0x30);
      i++;
    }
    const digits = i - first;
    // A fraction or exponent needs no check here: the object then finds '.' or 'e' where ',' or '}' must be.
    if (digits > 15 || (digits > 1 && buf[first] === 0x30)) return UNSURE;
    this.#num = n;
    return i;
  }

  /** A string without escapes or control bytes (JSON.parse decides those); its content is #strStart..#strEnd. */
  #string(i: number): number {
    const buf = this.#buf;
    const end = this.#end;
    const start = ++i;
    while (i < end) {
      const c = buf[i]!;
      if (c === 0x22) {
        this.#strStart = start;
        this.#strEnd = i;
        return i + 1;
      }
      if (c === 0x5c || c < 0x20) return UNSURE;
      i++;
    }
    return UNSURE;
  }
}
