/** Uniform [0, 1) source injected into policies, so the discrete-event benchmark can replay decisions exactly. */
export type Rng = () => number;

/** A seeded generator (mulberry32): small, fast and good enough for tie-breaks and power-of-two sampling. */
export function createRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const mathRandom: Rng = Math.random;
