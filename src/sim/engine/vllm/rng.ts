/**
 * A small seeded PRNG (sfc32) so that simulated runs are reproducible: same seed, same jitter, same arrivals.
 * Math.random cannot be seeded, and determinism is what lets two routing policies see identical conditions.
 */
export interface SeededRng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal (Box-Muller; the spare value is kept for the next call). */
  normal(): number;
}

export function createSeededRng(seed: number): SeededRng {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88 ^ Math.imul(seed, 0x85ebca6b);
  let c = 0xb7e15162;
  let d = 1;
  const raw = (): number => {
    a |= 0;
    b |= 0;
    c |= 0;
    d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  // Discard the first outputs: sfc32 mixes poorly right after seeding with small seeds.
  for (let i = 0; i < 12; i++) raw();
  let spare: number | null = null;
  return {
    next: raw,
    normal() {
      if (spare !== null) {
        const s = spare;
        spare = null;
        return s;
      }
      let u = raw();
      while (u <= 1e-12) u = raw();
      const v = raw();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
  };
}
