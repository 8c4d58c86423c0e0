/**
 * Byte-level SSE event framing. It finds event boundaries (an empty line, with LF, CRLF or CR line endings) without
 * decoding text, so multi-byte UTF-8 split across network chunks is never touched. Complete events are handed to a
 * visitor that may drop them; everything kept is returned as byte ranges to forward unchanged. An incomplete trailing
 * event is held back until its end arrives: a client's SSE parser cannot act on half an event, so holding it costs
 * the client nothing, and it lets the relay drop a whole event (the usage chunk it injected) cleanly.
 */
export type EventVisitor = (buf: Buffer, start: number, end: number) => boolean;

const LF = 0x0a;
const CR = 0x0d;

export class SseScanner {
  #pending: Buffer | null = null;
  /** Offset in #pending where the current (incomplete) line starts, to resume without rescanning. */
  #lineStart = 0;
  #scanFrom = 0;

  /**
   * Feeds a chunk. Returns the bytes to forward (a single Buffer in the common case of no dropped event, an array
   * when an event was dropped from the middle, or null when nothing is complete yet).
   */
  push(chunk: Buffer, visit: EventVisitor): Buffer | Buffer[] | null {
    let buf: Buffer;
    if (this.#pending === null) {
      buf = chunk;
      this.#lineStart = 0;
      this.#scanFrom = 0;
    } else {
      buf = Buffer.concat([this.#pending, chunk]);
    }
    let evStart = 0;
    let lineStart = this.#lineStart;
    let i = this.#scanFrom;
    const len = buf.length;
    let out: Buffer | Buffer[] | null = null;
    let keptFrom = 0; // start of the run of kept events not yet emitted
    // Jump between line terminators with Buffer#indexOf (memchr) instead of testing every byte in JS; each of the
    // two searches runs at most once per terminator it finds, so a chunk is scanned in linear time.
    let nextLf = -2;
    let nextCr = -2;
    while (i < len) {
      if (nextLf !== -1 && nextLf < i) nextLf = buf.indexOf(LF, i);
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
        if (!visit(buf, evStart, evEnd)) {
          if (evStart > keptFrom) out = appendRange(out, buf.subarray(keptFrom, evStart));
          keptFrom = evEnd;
        }
        evStart = evEnd;
      }
      i += termLen;
      lineStart = i;
    }
    if (evStart > keptFrom) out = appendRange(out, keptFrom === 0 && evStart === len ? buf : buf.subarray(keptFrom, evStart));
    if (evStart < len) {
      // Copy so the held-back tail does not pin the whole upstream chunk.
      this.#pending = Buffer.from(buf.subarray(evStart));
      this.#lineStart = lineStart - evStart;
      this.#scanFrom = i - evStart;
    } else {
      this.#pending = null;
    }
    return out;
  }

  /** Bytes of an incomplete event left when the stream ended (forwarded as is), or null. */
  flush(): Buffer | null {
    const p = this.#pending;
    this.#pending = null;
    return p;
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
