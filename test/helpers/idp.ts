import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';

/** A tiny identity provider: an RS256 key pair whose JWKS is served on port 0, so the gateway's real fetch path runs. */
export interface TestIdp {
  readonly issuer: string;
  readonly jwksUrl: string;
  issueToken(claims?: JWTPayload & { sub?: string }, options?: { expiresInS?: number; audience?: string }): Promise<string>;
  close(): Promise<void>;
}

export async function startIdp(issuer = 'https://idp.test/'): Promise<TestIdp> {
  const { publicKey, privateKey } = (await generateKeyPair('RS256', { extractable: true })) as { publicKey: CryptoKey; privateKey: CryptoKey };
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const server: Server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    issuer,
    jwksUrl: `http://127.0.0.1:${port}/jwks.json`,
    async issueToken(claims = {}, options = {}) {
      const now = Math.floor(Date.now() / 1000);
      const { sub = 'alice', ...rest } = claims;
      return new SignJWT(rest)
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setSubject(sub)
        .setIssuer(issuer)
        .setAudience(options.audience ?? 'infergate')
        .setIssuedAt(now - 5)
        .setExpirationTime(now + (options.expiresInS ?? 3600))
        .sign(privateKey);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
