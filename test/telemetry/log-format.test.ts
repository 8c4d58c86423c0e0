import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixed2, jsonString, twoDecimals } from '../../src/telemetry/log-format.js';

test('twoDecimals gives String(Math.round(ms * 100) / 100) for every input', () => {
  const ref = (ms: number): string => String(Math.round(ms * 100) / 100);
  // Every hundredth up to 20,000 ms, and each of them nudged off its exact value.
  for (let h = 0; h < 2e6; h++) {
    const ms = h / 100;
    if (twoDecimals(ms) !== ref(ms)) assert.equal(twoDecimals(ms), ref(ms), `at ${ms}`);
    const off = ms + 0.004999;
    if (twoDecimals(off) !== ref(off)) assert.equal(twoDecimals(off), ref(off), `at ${off}`);
  }
  // Random magnitudes from 10^-4 to 10^12, negatives, and the values that take the fallback.
  let seed = 7;
  const r = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  for (let i = 0; i < 200_000; i++) {
    const ms = r() * 10 ** (r() * 16 - 4) * (r() < 0.1 ? -1 : 1);
    if (twoDecimals(ms) !== ref(ms)) assert.equal(twoDecimals(ms), ref(ms), `at ${ms}`);
  }
  for (const ms of [0, -0, -0.001, 0.005, 0.015, 1.005, 10737418.23, 10737418.24, 1e21, NaN, Infinity, -Infinity]) {
    assert.equal(twoDecimals(ms), ref(ms), `at ${ms}`);
  }
});

test('jsonString gives JSON.stringify for any string, however many distinct values pass', () => {
  const samples = ['plain', '', 'quote " and \\ backslash', 'tab\tnew\nline\u0000nul', 'modèle ü 模型 🚀', 'lone \ud800 surrogate', '</script>'];
  for (let round = 0; round < 3; round++) for (const v of samples) assert.equal(jsonString(v), JSON.stringify(v));
  assert.equal(jsonString(null), 'null');
  // Past the memo's bound: still right, for new and old values alike.
  for (let i = 0; i < 5000; i++) assert.equal(jsonString(`model-${i}"`), JSON.stringify(`model-${i}"`));
  for (const v of samples) assert.equal(jsonString(v), JSON.stringify(v));
});

test('fixed2 gives toFixed(2) for every input', () => {
  for (let i = 0; i < 2e6; i++) {
    const v = i / 1000;
    if (fixed2(v) !== v.toFixed(2)) assert.equal(fixed2(v), v.toFixed(2), `at ${v}`);
  }
  let seed = 11;
  const r = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  for (let i = 0; i < 200_000; i++) {
    const v = r() * 10 ** (r() * 14 - 4);
    if (fixed2(v) !== v.toFixed(2)) assert.equal(fixed2(v), v.toFixed(2), `at ${v}`);
  }
  // Half-hundredths whose double lies just below or above the tie, negatives, and values past the fast range.
  for (const v of [0, -0, -0.001, 0.005, 0.015, 1.005, 1.255, 8.345, 2.675, 1e-7, 10737418.235, 1e9, 1e21, NaN, Infinity]) {
    assert.equal(fixed2(v), v.toFixed(2), `at ${v}`);
  }
});
