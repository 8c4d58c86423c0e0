import { createSeededRng, type SeededRng } from '../engine/vllm/rng.js';

export { createSeededRng, type SeededRng };

/** Lognormal with the given mean and standard deviation, clamped to [lo, hi] and rounded. */
export function lognormalInt(rng: SeededRng, mean: number, sd: number, lo: number, hi: number): number {
  const s2 = Math.log(1 + (sd * sd) / (mean * mean));
  const mu = Math.log(mean) - s2 / 2;
  return clampInt(Math.exp(mu + Math.sqrt(s2) * rng.normal()), lo, hi);
}

export function normalInt(rng: SeededRng, mean: number, sd: number, lo: number, hi: number): number {
  return clampInt(mean + sd * rng.normal(), lo, hi);
}

export function exponentialInt(rng: SeededRng, mean: number, lo: number, hi: number): number {
  return clampInt(-mean * Math.log(1 - rng.next()), lo, hi);
}

/** Gamma(shape k, scale 1) by Marsaglia–Tsang (with the k < 1 boost): bursty inter-arrival gaps. */
export function gamma(rng: SeededRng, k: number): number {
  if (k < 1) return gamma(rng, k + 1) * Math.pow(Math.max(rng.next(), 1e-12), 1 / k);
  const d = k - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.next();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

export function shuffle<T>(rng: SeededRng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    const t = items[i] as T;
    items[i] = items[j] as T;
    items[j] = t;
  }
  return items;
}

function clampInt(x: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, Math.round(x)));
}
