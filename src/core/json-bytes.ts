/**
 * Byte-level steps through JSON text, for the readers and editors of request and response bodies that must not parse
 * (or re-serialise) a whole document to find or change one part of it.
 */

/** JSON's insignificant whitespace (RFC 8259: space, tab, LF, CR). */
export function isJsonSpace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The first index from `i` (below `end`) that is not JSON whitespace. */
export function skipJsonSpace(buf: Uint8Array, i: number, end = buf.length): number {
  while (i < end && isJsonSpace(buf[i])) i++;
  return i;
}

/** The index just past the string whose opening quote is at `i`, or `end` when it is not closed before it. */
export function skipJsonString(buf: Uint8Array, i: number, end = buf.length): number {
  for (i++; i < end; i++) {
    const c = buf[i];
    if (c === 0x5c) i++; // an escape: the next byte is never the closing quote
    else if (c === 0x22) return i + 1;
  }
  return end;
}

/**
 * The index of the bracket that closes the object or array opening at `open` (brackets inside strings skipped), or
 * -1 when none does before `end`.
 */
export function closingBracket(buf: Uint8Array, open: number, end = buf.length): number {
  let depth = 0;
  for (let i = open; i < end; i++) {
    const c = buf[i];
    if (c === 0x22) i = skipJsonString(buf, i, end) - 1;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if ((c === 0x7d || c === 0x5d) && --depth === 0) return i;
  }
  return -1;
}
