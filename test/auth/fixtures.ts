import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { authSectionSchema } from '../../src/config/governance-schema.js';
import { compileAuthConfig, type CompiledAuth } from '../../src/auth/index.js';

export const SECRET = 'test-secret-0123456789-abcdefghijklmnop';
export const NOW_MS = 1_700_000_000_000;
export const NOW_S = NOW_MS / 1000;

export interface SignOptions {
  alg: string;
  key: CryptoKey | Uint8Array;
  kid?: string;
  claims?: JWTPayload;
  iss?: string;
  aud?: string;
  expS?: number;
  nbfS?: number;
}

/** Signs a token valid at NOW_MS unless told otherwise. */
export async function sign(o: SignOptions): Promise<string> {
  const jwt = new SignJWT({ scope: 'models:*', team: 'research', ...o.claims })
    .setProtectedHeader(o.kid ? { alg: o.alg, kid: o.kid } : { alg: o.alg })
    .setSubject('alice')
    .setIssuer(o.iss ?? 'https://idp.test/')
    .setAudience(o.aud ?? 'infergate')
    .setIssuedAt(NOW_S - 10)
    .setExpirationTime(o.expS ?? NOW_S + 3600);
  if (o.nbfS !== undefined) jwt.setNotBefore(o.nbfS);
  return jwt.sign(o.key);
}

export const hmac = new TextEncoder().encode(SECRET);

export async function keyPair(alg: 'RS256' | 'ES256' | 'EdDSA' | 'PS256') {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { publicKey, privateKey, pem: await exportSPKI(publicKey), jwk: await exportJWK(publicKey) };
}

/** Builds a compiled auth config through the real schema, as a YAML file would. */
export function compileAuth(input: unknown): CompiledAuth {
  const parsed = authSectionSchema.parse(input);
  const compiled = compileAuthConfig(parsed);
  if (!compiled) throw new Error('auth is none');
  return compiled;
}
