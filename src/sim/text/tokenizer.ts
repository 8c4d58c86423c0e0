/**
 * A tiny deterministic tokenizer: words (with their leading space) cut into pieces of at most 4 characters, digits in
 * groups of up to 3, and every other non-space character alone; ids are hashes of the piece. It is not any real
 * model's tokenizer, but it gives stable counts (~4 characters per token) and stable ids, which is what prompt token
 * counts and prefix-cache block hashing need: the same text always gives the same ids, and a shared text prefix gives
 * a shared id prefix.
 */
import { hashString } from './hash.js';

export const VOCAB_SIZE = 128_000;
const PIECE = / ?[A-Za-z]+| ?[0-9]{1,3}|\s+|[^\sA-Za-z0-9]/gu;
const MAX_PIECE = 4;

function pieceId(piece: string): number {
  return hashString(piece) % VOCAB_SIZE;
}

/** Token pieces of a text; their concatenation is the text. */
export function tokenPieces(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(PIECE)) {
    const p = m[0];
    if (p.length <= MAX_PIECE) out.push(p);
    else for (let i = 0; i < p.length; i += MAX_PIECE) out.push(p.slice(i, i + MAX_PIECE));
  }
  return out;
}

export function tokenize(text: string): number[] {
  const ids: number[] = [];
  for (const m of text.matchAll(PIECE)) {
    const p = m[0];
    if (p.length <= MAX_PIECE) ids.push(pieceId(p));
    else for (let i = 0; i < p.length; i += MAX_PIECE) ids.push(pieceId(p.slice(i, i + MAX_PIECE)));
  }
  return ids;
}

export function countTokens(text: string): number {
  return tokenize(text).length;
}
