/**
 * Deterministic output text. A choice's tokens come from a fixed vocabulary driven by a PRNG seeded with
 * (instance seed, request seed, prompt hash, choice index): the same request gives the same text on every instance
 * with the same seed, and a shorter max_tokens gives a prefix of the longer answer.
 */
import { createRandom, mixSeeds } from './hash.js';

const WORDS = [
  'the', 'model', 'token', 'request', 'answer', 'simulated', 'backend', 'gateway', 'stream', 'cache', 'prefix', 'batch',
  'latency', 'value', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'and', 'then', 'returns', 'a', 'small',
  'result', 'with', 'some', 'detail', 'about', 'how', 'it', 'works', 'in', 'practice', 'for', 'each', 'case', 'here',
  'is', 'one', 'more', 'example', 'of', 'plain', 'text', 'that', 'looks', 'like', 'language', 'but', 'means', 'little',
  'every', 'word', 'comes', 'from', 'seeded', 'random', 'numbers', 'so', 'tests', 'can', 'rely', 'on', 'them',
];

export interface TopLogprob {
  token: string;
  logprob: number;
}
export interface TokenLogprob extends TopLogprob {
  top: TopLogprob[];
}

export function choiceSeed(instanceSeed: number, requestSeed: number, promptHash: number, choiceIndex: number): number {
  return mixSeeds(instanceSeed, requestSeed, promptHash, choiceIndex);
}

/** `count` token pieces; their concatenation is the text. Sentences end with a '.' token now and then. */
export function generatePieces(seed: number, count: number): string[] {
  const rnd = createRandom(seed);
  const out: string[] = [];
  let sentenceStart = true;
  for (let i = 0; i < count; i++) {
    if (!sentenceStart && i < count - 1 && rnd() < 0.12) {
      out.push('.');
      sentenceStart = true;
      continue;
    }
    const w = WORDS[Math.floor(rnd() * WORDS.length)] as string;
    const word = sentenceStart ? w.charAt(0).toUpperCase() + w.slice(1) : w;
    out.push(i === 0 ? word : ` ${word}`);
    sentenceStart = false;
  }
  return out;
}

/** Plausible log probabilities: the chosen token is always the most likely of its top list. */
export function generateLogprobs(seed: number, pieces: readonly string[], topN: number): TokenLogprob[] {
  const rnd = createRandom(mixSeeds(seed, 0x10b9));
  return pieces.map((token) => {
    const logprob = -Math.round(rnd() * 1500) / 1000;
    const top: TopLogprob[] = [];
    if (topN > 0) top.push({ token, logprob });
    let lp = logprob;
    for (let k = 1; k < topN; k++) {
      lp = Math.round((lp - 0.25 - rnd() * 1.5) * 1000) / 1000;
      let alt = ` ${WORDS[Math.floor(rnd() * WORDS.length)] as string}`;
      if (top.some((t) => t.token === alt)) alt = `${alt}${k}`;
      top.push({ token: alt, logprob: lp });
    }
    return { token, logprob, top };
  });
}

/** Truncates pieces before the first occurrence of any stop string; returns the stop string found, or null. */
export function applyStop(pieces: string[], stops: readonly string[]): string | null {
  if (stops.length === 0) return null;
  const text = pieces.join('');
  let at = -1;
  let found: string | null = null;
  for (const s of stops) {
    if (!s) continue;
    const i = text.indexOf(s);
    if (i >= 0 && (at < 0 || i < at)) {
      at = i;
      found = s;
    }
  }
  if (found === null) return null;
  let pos = 0;
  let keep = 0;
  for (; keep < pieces.length; keep++) {
    const p = pieces[keep] as string;
    if (pos + p.length > at) {
      const head = p.slice(0, at - pos);
      if (head) pieces[keep++] = head;
      break;
    }
    pos += p.length;
  }
  pieces.length = keep;
  return found;
}
