import { createHmac, randomBytes } from 'node:crypto';

/**
 * The key format: `sk-ig-<id>-<secret>`.
 *   id      10 characters of a 32-letter alphabet (50 bits): public, names the key in logs, usage rows and the
 *           console; unique (checked at insert), never a secret.
 *   secret  32 random bytes as base64url (256 bits): what makes the key unguessable.
 * Keys are stored only as HMAC-SHA256(pepper, key). A slow password hash (bcrypt, scrypt, argon2) exists to make
 * guessing low-entropy passwords expensive; a 256-bit random secret cannot be guessed at any hash speed, so a fast
 * keyed hash loses nothing and keeps the first use of a key at about a microsecond. The pepper lives outside the
 * database, so a copied database alone cannot even test a candidate key.
 */
export const KEY_PREFIX = 'sk-ig-';
const ID_ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789'; // no l, o, 0, 1: ids are read aloud and typed
const ID_LENGTH = 10;
const KEY_SHAPE = /^sk-ig-([a-km-np-z2-9]{10})-[A-Za-z0-9_-]{43}$/;
export const KEY_ID_SHAPE = /^[a-km-np-z2-9]{10}$/;

export function newKeyId(): string {
  const bytes = randomBytes(ID_LENGTH);
  let id = '';
  for (const b of bytes) id += ID_ALPHABET[b & 31];
  return id;
}

export function newKeySecret(id: string): string {
  return `${KEY_PREFIX}${id}-${randomBytes(32).toString('base64url')}`;
}

/** The public id inside a well-formed key, or null. */
export function keyIdOf(key: string): string | null {
  const m = KEY_SHAPE.exec(key);
  return m ? m[1]! : null;
}

export function hashKey(pepper: Uint8Array, key: string): string {
  return createHmac('sha256', pepper).update(key).digest('base64url');
}
