/**
 * Byte-level SSE event framing. It finds event boundaries (an empty line, with LF, CRLF or CR line endings) without
 * decoding text, so multi-byte UTF-8 split across network chunks is never touched. Complete events are handed to a
 * visitor that may drop them; everything kept is returned as byte ranges to forward unchanged. An incomplete trailing
 * event is held back until its end arrives: a client's SSE parser cannot act on half an event, so holding it costs
 * the client nothing, and it lets the relay drop a whole event (the usage chunk it injected) cleanly.
 */
/**
 * What sees each complete event: keeps it (true), drops it (false), or replaces its bytes (a Buffer to forward
 * instead). An object with a method rather than a callback, so a relay passes itself and makes no closure per stream
 * (see SseRelay).
 */
export interface EventVisitor {
  visitEvent(buf: Buffer, start: number, end: number): boolean | Buffer;
}

const LF = 0x0a;
const CR = 0x0d;
const MIN_HOLD = 16 * 1024;

/** One SSE event grew past the configured cap before it ended (a backend sending one endless line). */
export class SseEventTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`a backend SSE event exceeded ${limit} bytes`);
    this.name = 'SseEventTooLarge';
  }
}

export class SseScanner {
  /**
   * The held-back incomplete event, in a buffer that grows by doubling: appending a chunk copies only that chunk, so
   * an event that arrives in many pieces costs linear time (a re-concatenation per chunk would be quadratic).
   */
  #hold: Buffer | null = null;
  #held = 0;
  /** Offset in the held bytes where the current (incomplete) line starts, and where scanning resumes. */
  #lineStart = 0;
  #scanFrom = 0;
  readonly #maxEvent: number;

  constructor(maxEventBytes = Number.POSITIVE_INFINITY) {
    this.#maxEvent = maxEventBytes;
  }

  /**
   * Feeds a chunk. Returns the bytes to forward (a single Buffer in the common case of no dropped event, an array
   * when an event was dropped or replaced, or null when nothing is complete yet). Throws SseEventTooLarge when the
   * incomplete event outgrows the cap.
   */
  push(chunk: Buffer, visitor: EventVisitor): Buffer | Buffer[] | null {
    let buf: Buffer;
    let len: number;
    let lineStart: number;
    let i: number;
    if (this.#hold === null) {
      buf = chunk;
      len = chunk.length;
      lineStart = 0;
      i = 0;
    } else {
      len = this.#held + chunk.length;
      if (len > this.#maxEvent) throw new SseEventTooLarge(this.#maxEvent);
      if (len > this.#hold.length) {
        const grown = Buffer.allocUnsafe(Math.min(Math.max(len, this.#hold.length * 2), Math.max(len, this.#maxEvent)));
        this.#hold.copy(grown, 0, 0, this.#held);
        this.#hold = grown;
      }
      chunk.copy(this.#hold, this.#held);
      buf = this.#hold.length === len ? this.#hold : this.#hold.subarray(0, len);
      lineStart = this.#lineStart;
      i = this.#scanFrom;
    }
    let evStart = 0;
    let out: Buffer | Buffer[] | null = null;
    let keptFrom = 0; // start of the run of kept events not yet emitted
    // Jump between line terminators with Buffer#indexOf (memchr) instead of testing every byte in JS; each of the
    // two searches runs at most once per terminator it finds, so a chunk is scanned in linear time.
    let nextLf = -2;
    let nextCr = -2;
    while (i < len) {
      // The byte at i is tested first: after a line's LF comes the event's blank line, and a native call for it
      // costs more than the test (one call per event saved).
      if (nextLf !== -1 && nextLf < i) nextLf = buf[i] === LF ? i : buf.indexOf(LF, i);
      if (nextCr !== -1 && nextCr < i) nextCr = buf.indexOf(CR, i);
      const t = nextLf === -1 ? nextCr : nextCr === -1 ? nextLf : Math.min(nextLf, nextCr);
      if (t === -1) {
        i = len;
        break;
      }
      i = t;
      const b = buf[i]!;
      let termLen = 1;
      if (b === CR) {
        if (i + 1 >= len) break; // a lone CR at the end may be the first half of CRLF: wait for more bytes
        if (buf[i + 1] === LF) termLen = 2;
      }
      if (i === lineStart) {
        const evEnd = i + termLen;
        const verdict = visitor.visitEvent(buf, evStart, evEnd);
        if (verdict !== true) {
          if (evStart > keptFrom) out = appendRange(out, buf.subarray(keptFrom, evStart));
          if (verdict !== false) out = appendRange(out, verdict);
          keptFrom = evEnd;
        }
        evStart = evEnd;
      }
      i += termLen;
      lineStart = i;
    }
    if (evStart > keptFrom) out = appendRange(out, keptFrom === 0 && evStart === len ? buf : buf.subarray(keptFrom, evStart));
    this.#keep(buf, len, evStart, lineStart, i);
    return out;
  }

  /** Holds back the incomplete tail [evStart, len) for the next chunk. */
  #keep(buf: Buffer, len: number, evStart: number, lineStart: number, scanned: number): void {
    if (evStart >= len) {
      this.#hold = null;
      this.#held = 0;
      return;
    }
    const tail = len - evStart;
    if (tail > this.#maxEvent) throw new SseEventTooLarge(this.#maxEvent);
    if (evStart > 0 || this.#hold === null || buf.buffer !== this.#hold.buffer) {
      // Bytes before evStart were handed out for writing: the tail moves to a fresh buffer (also so it does not pin
      // the whole upstream chunk).
      const hold = Buffer.allocUnsafe(Math.min(Math.max(MIN_HOLD, tail * 2), Math.max(tail, this.#maxEvent)));
      buf.copy(hold, 0, evStart, len);
      this.#hold = hold;
    }
    this.#held = tail;
    this.#lineStart = lineStart - evStart;
    this.#scanFrom = scanned - evStart;
  }

  /** Bytes of an incomplete event left when the stream ended (forwarded as is), or null. */
  flush(): Buffer | null {
    const h = this.#hold;
    const n = this.#held;
    this.#hold = null;
    this.#held = 0;
    return h === null ? null : h.subarray(0, n);
  }
}

function appendRange(out: Buffer | Buffer[] | null, part: Buffer): Buffer | Buffer[] {
  if (out === null) return part;
  if (Array.isArray(out)) {
    out.push(part);
    return out;
  }
  return [out, part];
}

const DATA = Buffer.from('data:');

/** The event's data field (data lines joined by LF, per the SSE spec), decoded as UTF-8. */
export function eventData(buf: Buffer, start: number, end: number): string {
  let data: string | null = null;
  let i = start;
  while (i < end) {
    let j = i;
    while (j < end && buf[j] !== LF && buf[j] !== CR) j++;
    if (j - i >= 5 && buf.compare(DATA, 0, 5, i, i + 5) === 0) {
      let from = i + 5;
      if (buf[from] === 0x20) from++;
      const line = buf.toString('utf8', from, j);
      data = data === null ? line : `${data}\n${line}`;
    }
    i = j + (buf[j] === CR && buf[j + 1] === LF ? 2 : 1);
  }
  return data ?? '';
}

/**
 * An event the backend left unterminated when its stream ended (no blank line after it), as a complete event: its
 * trailing line ends removed and a blank line added, or null when nothing but line ends was left. A client's SSE
 * parser never dispatches an event without its blank line, and whatever the gateway writes next (its error frame)
 * would run into it, so the tail is read and forwarded as the event the backend meant.
 */
export function terminatedEvent(tail: Buffer): Buffer | null {
  let n = tail.length;
  while (n > 0 && (tail[n - 1] === LF || tail[n - 1] === CR)) n--;
  if (n === 0) return null;
  return Buffer.concat([tail.subarray(0, n), BLANK_LINE]);
}
const BLANK_LINE = Buffer.from('\n\n');

const ERROR_FIELD = Buffer.from('error:');

/**
 * The value of an event's `error:` line, or null. llama.cpp's server fails a stream with an SSE line of its own field
 * name, `error: {"code": …, "message": …, "type": …}`, rather than a `data:` line; no SSE client reads that field, so
 * it is returned as data in the `{"error": …}` shape the other engines use.
 */
export function errorFieldData(buf: Buffer, start: number, end: number): string | null {
  // First byte before the compare: every relayed event passes here, and data events start with `d`.
  if (buf[start] !== 0x65 || end - start < ERROR_FIELD.length || buf.compare(ERROR_FIELD, 0, ERROR_FIELD.length, start, start + ERROR_FIELD.length) !== 0) return null;
  let from = start + ERROR_FIELD.length;
  if (buf[from] === 0x20) from++;
  let to = from;
  while (to < end && buf[to] !== LF && buf[to] !== CR) to++;
  const value = buf.toString('utf8', from, to).trim();
  return value.startsWith('{') ? `{"error":${value}}` : JSON.stringify({ error: value });
}
