import type { KeyObject } from 'node:crypto';
import { importJWK, type CryptoKey, type JWK, type JWTVerifyGetKey } from 'jose';

const HMAC_HASH: Record<string, string> = { HS256: 'SHA-256', HS384: 'SHA-384', HS512: 'SHA-512' };

/**
 * A configured key as a resolver of WebCrypto keys, imported once per algorithm and reused. jose verifies about
 * twice as fast with a CryptoKey as with raw bytes or a KeyObject, which it would otherwise convert on every call.
 * The algorithm was already checked against the issuer's pinned list before this runs.
 */
export function staticKeyResolver(key: Uint8Array | KeyObject): JWTVerifyGetKey {
  const imported = new Map<string, Promise<CryptoKey>>();
  const importFor = (alg: string): Promise<CryptoKey> => {
    const hash = HMAC_HASH[alg];
    // Compile keeps secrets as bytes and public keys as KeyObjects, and the schema forbids crossing the two.
    if (hash && key instanceof Uint8Array) return crypto.subtle.importKey('raw', key, { name: 'HMAC', hash }, false, ['verify']);
    if (hash || key instanceof Uint8Array) return Promise.reject(new TypeError(`this key cannot verify ${alg}`));
    return importJWK(key.export({ format: 'jwk' }) as JWK, alg) as Promise<CryptoKey>;
  };
  return (header) => {
    const alg = header.alg ?? '';
    let p = imported.get(alg);
    if (!p) {
      p = importFor(alg);
      // A failed import is not cached, so a transient failure is not remembered forever.
      p.catch(() => imported.delete(alg));
      imported.set(alg, p);
    }
    return p;
  };
}
