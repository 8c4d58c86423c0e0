import { GatewayError } from '../core/index.js';

/**
 * What parsing a request body may cost, checked on its bytes before JSON.parse builds anything. JSON.parse's time and
 * memory grow with the values it allocates, not with the bytes: 15 MB of `{},` is five million objects, two seconds
 * of the event loop (every other caller waits) and half a gigabyte, where 15 MB of prompt text parses in 25 ms. And a
 * value nested thousands deep overflows the stack of the gateway's own JSON.stringify (a Responses request translated
 * to chat) and of the engines' parsers (Python's stops near 1,000 levels).
 */
/** Deeper than any schema or message a client sends, and within what Python engines parse (about 1,000 levels). */
export const MAX_JSON_DEPTH = 512;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;
const COLON = 0x3a;

/**
 * The refusal for a body with more than `maxNodes` arrays, objects and object members, or nested deeper than
 * `maxDepth`, or null. One pass over the bytes outside strings (strings are skipped with
 * indexOf, so prompt text costs next to nothing): about a fifth of JSON.parse's time on a typical request. Structural
 * bytes are ASCII and never occur inside a UTF-8 sequence. A body that is not JSON is left to JSON.parse to describe.
 */
export function jsonBoundsRefusal(buf: Uint8Array, maxNodes: number, maxDepth = MAX_JSON_DEPTH): GatewayError | null {
  const n = buf.length;
  // Every value and level takes at least a byte: a body no longer than both bounds cannot pass either (most requests).
  if (n <= maxDepth && n <= maxNodes) return null;
  let nodes = 0;
  let depth = 0;
  for (let i = 0; i < n; i++) {
    const b = buf[i];
    if (b === QUOTE) {
      i = stringEnd(buf, i);
      if (i < 0) return null;
    } else if (b === OPEN_OBJECT || b === OPEN_ARRAY) {
      if (++depth > maxDepth) return tooDeep(maxDepth);
      if (++nodes > maxNodes) return tooMany(maxNodes);
    } else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
      depth--;
    } else if (b === COLON && ++nodes > maxNodes) {
      return tooMany(maxNodes);
    }
  }
  return null;
}

/** The index of the quote that closes the string opened at `open` (one not escaped by an odd run of backslashes), or -1. */
function stringEnd(buf: Uint8Array, open: number): number {
  let i = open;
  for (;;) {
    i = buf.indexOf(QUOTE, i + 1);
    if (i < 0) return -1;
    let k = i - 1;
    while (buf[k] === BACKSLASH) k--;
    if ((i - 1 - k) % 2 === 0) return i;
  }
}

function tooDeep(limit: number): GatewayError {
  return new GatewayError('invalid_request', `The request body is nested more than ${limit} levels deep.`, { wireCode: 'json_too_deep' });
}

function tooMany(limit: number): GatewayError {
  return new GatewayError('invalid_request', `The request body holds more than ${limit} arrays, objects and object members (server.max_json_nodes).`, {
    wireCode: 'json_too_complex',
  });
}
