export const CONTENT_TYPE = Buffer.from('content-type');
export const CONTENT_ENCODING = Buffer.from('content-encoding');

/**
 * The first value of a header (`wanted` in lower case) in undici's raw header list, its name compared without regard
 * to case (llama.cpp sends `Content-Type`) and without decoding a name that cannot match.
 */
export function headerOf(raw: readonly Buffer[], wanted: Buffer): string | undefined {
  const n = wanted.length;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== n) continue;
    let same = true;
    for (let j = 0; j < n; j++) {
      if ((name[j]! | 0x20) !== wanted[j]!) {
        same = false;
        break;
      }
    }
    if (same) return raw[i + 1]!.toString('latin1');
  }
  return undefined;
}
