import type { LineBytes } from './line-bytes.js';

/**
 * Formatting helpers for text telemetry writes per request (the request log line, Server-Timing), each giving exactly
 * what JSON.stringify / String / toFixed give, at a fraction of their cost.
 */

/** Low-cardinality values (model, backend, subject, outcome...) repeat on every line; their JSON text is kept. */
const MEMO_MAX = 1024;
const memo = new Map<string, string>();

/** `JSON.stringify(v)` for a string, `null` for null, remembered for repeated values (never a request or trace id). */
export function jsonString(v: string | null): string {
  if (v === null) return 'null';
  let json = memo.get(v);
  if (json === undefined) {
    json = JSON.stringify(v);
    // Bounded: past the cap the set is started afresh, so a stream of distinct values costs a stringify each, no more.
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(v, json);
  }
  return json;
}

/** Above this, hundredths are not small integers; String() decides. */
const SMALL = 0x40000000;

/**
 * `String(Math.round(ms * 100) / 100)` without converting a double to text (V8's shortest-representation search costs
 * ~0.1 µs per number, three per line): the rounded hundredths are an integer, printed as whole and fractional parts.
 * Same text for every input (test/telemetry/log-format.test.ts compares over a range and at random).
 */
export function twoDecimals(ms: number): string {
  const h = Math.round(ms * 100);
  if (!(h >= 0 && h < SMALL)) return String(h / 100);
  const whole = Math.floor(h / 100);
  const frac = h - whole * 100;
  if (frac === 0) return `${whole}`;
  if (frac % 10 === 0) return `${whole}.${frac / 10}`;
  return frac < 10 ? `${whole}.0${frac}` : `${whole}.${frac}`;
}

/** twoDecimals(ms) written into a line's bytes: the same text, digit by digit. */
export function twoDecimalsInto(lb: LineBytes, ms: number): void {
  const h = Math.round(ms * 100);
  if (!(h >= 0 && h < SMALL)) return lb.ascii(String(h / 100));
  const whole = Math.floor(h / 100);
  const frac = h - whole * 100;
  lb.num(whole);
  if (frac === 0) return;
  const buf = lb.buf;
  buf[lb.at++] = 0x2e;
  if (frac % 10 === 0) buf[lb.at++] = 0x30 + frac / 10;
  else {
    buf[lb.at++] = 0x30 + Math.floor(frac / 10);
    buf[lb.at++] = 0x30 + (frac % 10);
  }
}

/**
 * `v.toFixed(2)` (always two decimals) the same way. The product `v * 100` can be off by half an ulp, which matters only
 * when it lands next to a half-hundredth: there, and outside the small range, toFixed itself decides.
 */
export function fixed2(v: number): string {
  const s = v * 100;
  if (!(v >= 0 && s < SMALL) || Math.abs(s - Math.floor(s) - 0.5) < 1e-6) return v.toFixed(2);
  const h = Math.round(s);
  const whole = Math.floor(h / 100);
  const frac = h - whole * 100;
  return frac < 10 ? `${whole}.0${frac}` : `${whole}.${frac}`;
}
