import { randomBytes } from 'node:crypto';

// A random prefix per process plus a counter: unique, sortable within a process, and no crypto call per request.
const PREFIX = randomBytes(6).toString('hex');
let counter = 0;

export function newRequestId(): string {
  counter = (counter + 1) >>> 0;
  return `req_${PREFIX}${counter.toString(36).padStart(7, '0')}`;
}

/** Client-supplied request ids are echoed only when they are short and printable, so logs cannot be forged. */
const SAFE_ID = /^[A-Za-z0-9._:\-]{1,128}$/;
export function acceptRequestId(candidate: string | undefined | null): string {
  return candidate && SAFE_ID.test(candidate) ? candidate : newRequestId();
}
