import type { SeededRng } from './random.js';

/**
 * A synthetic tokenizer: token id ↔ text piece of 2–7 characters, so that prompts have both token ids (for the
 * engine's block hashes) and rendered text (for the gateway's character-block hashes), with a realistic ~4.3
 * chars/token whose boundaries do not line up with the gateway's 64-character blocks.
 */
export const VOCAB_SIZE = 32_000;

const PIECES: readonly string[] = (() => {
  const letters = 'etaoinshrdlucmfwypvbgkjqxz';
  const out: string[] = [];
  for (let id = 0; id < VOCAB_SIZE; id++) {
    let h = Math.imul(id + 1, 0x9e3779b1) >>> 0;
    const len = 1 + (h % 6);
    let piece = h % 10 < 7 ? ' ' : '';
    for (let i = 0; i < len; i++) {
      h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
      piece += letters[h % letters.length];
    }
    out.push(piece);
  }
  return out;
})();

/** A segment of content: its token ids and their text. */
export interface Segment {
  readonly ids: Int32Array;
  readonly text: string;
}

export function randomSegment(rng: SeededRng, tokens: number): Segment {
  const ids = new Int32Array(tokens);
  for (let i = 0; i < tokens; i++) ids[i] = Math.floor(rng.next() * VOCAB_SIZE);
  return { ids, text: textOf(ids) };
}

export function textOf(ids: ArrayLike<number>): string {
  const parts = new Array<string>(ids.length);
  for (let i = 0; i < ids.length; i++) parts[i] = PIECES[ids[i] ?? 0] ?? '';
  return parts.join('');
}

export function concatSegments(parts: readonly Segment[]): Segment {
  let n = 0;
  for (const p of parts) n += p.ids.length;
  const ids = new Int32Array(n);
  let o = 0;
  for (const p of parts) {
    ids.set(p.ids, o);
    o += p.ids.length;
  }
  return { ids, text: parts.map((p) => p.text).join('') };
}
