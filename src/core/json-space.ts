/** JSON's insignificant whitespace (RFC 8259: space, tab, LF, CR), for the byte-level readers of request and response bodies. */
export function isJsonSpace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The first index from `i` (below `end`) that is not JSON whitespace. */
export function skipJsonSpace(buf: Uint8Array, i: number, end = buf.length): number {
  while (i < end && isJsonSpace(buf[i])) i++;
  return i;
}
