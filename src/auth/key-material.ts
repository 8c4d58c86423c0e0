import { createPublicKey, type KeyObject } from 'node:crypto';
import type { JwtAlgorithm } from '../config/governance-schema.js';

// RFC 7518 §3.2: an HMAC key at least as long as the hash. The schema checks literal secrets with the same table;
// this copy checks secret files, which only compile reads (feature modules import config types, never config code).
const MIN_HMAC_BYTES: Partial<Record<JwtAlgorithm, number>> = { HS256: 32, HS384: 48, HS512: 64 };

/** A config problem found while compiling keys; `path` is relative to the `auth` section. */
export class AuthConfigError extends Error {
  readonly path: readonly (string | number)[];
  constructor(message: string, path: readonly (string | number)[]) {
    super(message);
    this.name = 'AuthConfigError';
    this.path = path;
  }
}

const CURVE_OF: Partial<Record<JwtAlgorithm, string>> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

/** Which key types each algorithm family verifies with; checked at load so a mismatch is a config error, not 401s. */
function keyFits(key: KeyObject, alg: JwtAlgorithm): boolean {
  const type = key.asymmetricKeyType;
  if (alg.startsWith('RS')) return type === 'rsa';
  if (alg.startsWith('PS')) return type === 'rsa' || type === 'rsa-pss';
  if (alg.startsWith('ES')) return type === 'ec' && key.asymmetricKeyDetails?.namedCurve === CURVE_OF[alg];
  if (alg === 'EdDSA' || alg === 'Ed25519') return type === 'ed25519' || (alg === 'EdDSA' && type === 'ed448');
  return false;
}

/**
 * Parses a PEM or JWK public key. Private keys are refused even though the public half could be derived: a private
 * key in a gateway config is a leak waiting to happen, and the error says so without printing the key.
 */
export function importPublicKey(input: string | Record<string, unknown>, algorithms: readonly JwtAlgorithm[], path: readonly (string | number)[]): KeyObject {
  let key: KeyObject;
  if (typeof input === 'string') {
    if (/PRIVATE KEY/.test(input)) throw new AuthConfigError('public_key holds a private key; configure only the public key', path);
    try {
      key = createPublicKey(input);
    } catch {
      throw new AuthConfigError('public_key is not a valid PEM public key (expected -----BEGIN PUBLIC KEY-----)', path);
    }
  } else {
    if ('d' in input || 'k' in input) throw new AuthConfigError('public_key JWK holds private or symmetric key material; configure only the public key', path);
    try {
      // The JWK shape is checked by createPublicKey itself; the cast only satisfies its parameter type.
      key = createPublicKey({ key: input as unknown as import('node:crypto').JsonWebKey, format: 'jwk' });
    } catch {
      throw new AuthConfigError('public_key is not a valid public JWK', path);
    }
  }
  for (const alg of algorithms) {
    if (!keyFits(key, alg)) {
      const details = key.asymmetricKeyDetails?.namedCurve ? ` (${key.asymmetricKeyDetails.namedCurve})` : '';
      throw new AuthConfigError(`algorithm ${alg} cannot be verified with this ${key.asymmetricKeyType ?? 'unknown'}${details} key`, path);
    }
  }
  return key;
}

export function hmacKey(secret: string, algorithms: readonly JwtAlgorithm[], path: readonly (string | number)[]): Uint8Array {
  const bytes = new TextEncoder().encode(secret);
  const need = Math.max(32, ...algorithms.map((a) => MIN_HMAC_BYTES[a] ?? 0));
  if (bytes.length < need) throw new AuthConfigError(`the secret must be at least ${need} bytes for ${algorithms.join(', ')}`, path);
  return bytes;
}
