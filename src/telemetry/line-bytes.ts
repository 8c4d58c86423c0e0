/**
 * Writes JSON text straight into a log batch's bytes: numbers digit by digit, repeated strings as bytes encoded once,
 * ids character by character. The request line built as a string cost ~1.4 KB of garbage per request (a chain of
 * concatenations, flattened, then encoded into the batch); written here it costs none. Text is exactly what
 * JSON.stringify and template literals give for the same values (test/telemetry/request-log.test.ts compares).
 */
export class LineBytes {
  buf: Buffer = Buffer.alloc(0);
  at = 0;

  bytes(b: Uint8Array): void {
    this.buf.set(b, this.at);
    this.at += b.length;
  }

  /** `${n}` for a number: integers digit by digit, anything else through String (ASCII). */
  num(n: number): void {
    if (!Number.isSafeInteger(n)) return this.ascii(String(n));
    const buf = this.buf;
    if (n < 0) {
      buf[this.at++] = 0x2d;
      n = -n;
    }
    let digits = 1;
    for (let p = 10; p <= n; p *= 10) digits++;
    let i = this.at + digits;
    this.at = i;
    do {
      const q = Math.floor(n / 10);
      buf[--i] = 0x30 + (n - q * 10);
      n = q;
    } while (n > 0);
  }

  /** Text known to be ASCII (a number's String, a fixed word). */
  ascii(s: string): void {
    const buf = this.buf;
    let at = this.at;
    for (let i = 0; i < s.length; i++) buf[at++] = s.charCodeAt(i);
    this.at = at;
  }

  /** JSON.stringify(s): characters that need no escape and are ASCII are copied; anything else is encoded. */
  jsonString(s: string): void {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
        this.at += this.buf.write(JSON.stringify(s), this.at);
        return;
      }
    }
    const buf = this.buf;
    let at = this.at;
    buf[at++] = 0x22;
    for (let i = 0; i < s.length; i++) buf[at++] = s.charCodeAt(i);
    buf[at++] = 0x22;
    this.at = at;
  }

  /** Most bytes JSON.stringify(s) can take: six per UTF-16 unit (`\u001f`), plus the quotes. */
  static jsonBound(s: string | null): number {
    return s === null ? 4 : s.length * 6 + 2;
  }
}

/**
 * `prefix` and the JSON of a value as bytes, encoded once per distinct value (a bounded memo: low-cardinality values
 * repeat). Keyed by the value itself, not its JSON text: the values are mostly the same string constants, whose hash
 * V8 keeps, so a hit stringifies and hashes nothing.
 */
export function memoBytes(memo: Map<string, Buffer>, value: string, prefix: string, max = 1024): Buffer {
  let b = memo.get(value);
  if (b === undefined) {
    b = Buffer.from(prefix + JSON.stringify(value));
    if (memo.size >= max) memo.clear();
    memo.set(value, b);
  }
  return b;
}
