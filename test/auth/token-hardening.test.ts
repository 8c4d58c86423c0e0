import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { createManualClock, GatewayError } from '../../src/core/index.js';
import { authFailureOf, authorize, createAuthenticator, requireAdmin, type AuthFailure } from '../../src/auth/index.js';
import OpenAI from 'openai';
import { client, closeAll, eventually, startSims, startTestGateway } from '../helpers/harness.js';
import { compileAuth, hmac, keyPair, NOW_MS, NOW_S, SECRET } from './fixtures.js';

const ISSUER = 'https://idp.test/';

async function token(claims: { iat?: number; exp?: number; scope?: string }): Promise<string> {
  const jwt = new SignJWT({ scope: claims.scope ?? 'models:llama' }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setIssuer(ISSUER).setAudience('infergate');
  if (claims.iat !== undefined) jwt.setIssuedAt(claims.iat);
  jwt.setExpirationTime(claims.exp ?? NOW_S + 3600);
  return jwt.sign(hmac);
}

async function refusal(p: unknown): Promise<AuthFailure | null> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.status, 401);
    return authFailureOf(err);
  }
  return null;
}

const authWith = (issuer: Record<string, unknown> = {}) =>
  createAuthenticator(
    compileAuth({ issuers: [{ issuer: ISSUER, audience: 'infergate', secret: SECRET, algorithms: ['HS256'], ...issuer }], clock_tolerance: '30s', token_cache_size: 0 }),
    { clock: createManualClock(0, NOW_MS) },
  );

describe('token lifetime checks', () => {
  it('refuses a token whose iat is in the future beyond the clock tolerance, accepts one within it', async () => {
    const auth = authWith();
    assert.equal(await refusal(auth.authenticate(`Bearer ${await token({ iat: NOW_S + 3600, exp: NOW_S + 7200 })}`)), 'issued_in_future');
    assert.equal(await refusal(auth.authenticate(`Bearer ${await token({ iat: NOW_S + 20 })}`)), null);
  });

  it('enforces an issuer\'s max_token_lifetime on exp - iat, and on exp from now without iat', async () => {
    const auth = authWith({ max_token_lifetime: '1h' });
    assert.equal(await refusal(auth.authenticate(`Bearer ${await token({ iat: NOW_S - 10, exp: 1e11 })}`)), 'lifetime_too_long');
    assert.equal(await refusal(auth.authenticate(`Bearer ${await token({ iat: NOW_S - 10, exp: NOW_S + 2 * 3600 })}`)), 'lifetime_too_long');
    assert.equal(await refusal(auth.authenticate(`Bearer ${await token({ exp: NOW_S + 2 * 3600 })}`)), 'lifetime_too_long');
    assert.equal(await refusal(auth.authenticate(`Bearer ${await token({ iat: NOW_S - 10, exp: NOW_S + 3000 })}`)), null);
    assert.equal(await refusal(auth.authenticate(`Bearer ${await token({ exp: NOW_S + 3000 })}`)), null);
    // Without the setting any lifetime is accepted, as before.
    assert.equal(await refusal(authWith().authenticate(`Bearer ${await token({ iat: NOW_S - 10, exp: 1e11 })}`)), null);
  });
});

describe('403 for a missing scope', () => {
  it('carries WWW-Authenticate: Bearer error="insufficient_scope" with the scope needed (RFC 6750 §3.1)', async () => {
    const auth = authWith();
    const principal = await auth.authenticate(`Bearer ${await token({ iat: NOW_S - 10 })}`);
    try {
      authorize(principal, 'secret-model', 'chat');
      assert.fail('expected 403');
    } catch (err) {
      assert.ok(err instanceof GatewayError);
      assert.equal(err.status, 403);
      assert.equal(err.headers?.['WWW-Authenticate'], 'Bearer realm="infergate", error="insufficient_scope", scope="models:secret-model"');
    }
    try {
      requireAdmin(principal);
      assert.fail('expected 403');
    } catch (err) {
      assert.ok(err instanceof GatewayError);
      assert.equal(err.status, 403);
      assert.match(err.headers?.['WWW-Authenticate'] ?? '', /^Bearer realm="infergate", error="insufficient_scope", scope="admin"$/);
    }
  });
});

describe('JWKS fetch timeout', () => {
  it('gives up on an issuer that never answers after jwks_timeout', async () => {
    const k = await keyPair('RS256');
    const hanging: IncomingMessage[] = [];
    let aborted = 0;
    const server = createServer((req) => {
      hanging.push(req);
      req.socket.on('close', () => aborted++);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
      const auth = createAuthenticator(
        compileAuth({ issuers: [{ issuer: ISSUER, audience: 'infergate', jwks_url: url, jwks_timeout: '150ms', algorithms: ['RS256'] }] }),
        { clock: createManualClock(0, NOW_MS) },
      );
      const t = await new SignJWT({ scope: 'models:*' })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setSubject('alice')
        .setIssuer(ISSUER)
        .setAudience('infergate')
        .setExpirationTime(NOW_S + 600)
        .sign(k.privateKey);
      // Without a configured timeout the default (5s) applies; the test's own limit is 3s.
      const outcome = await Promise.race([
        Promise.resolve(auth.authenticate(`Bearer ${t}`)).then(
          () => 'accepted',
          (err: unknown) => (err instanceof GatewayError ? `${err.status} ${err.wireCode}` : String(err)),
        ),
        new Promise((r) => setTimeout(() => r('still waiting'), 3000).unref()),
      ]);
      assert.equal(outcome, '503 auth_keys_unavailable');
      assert.equal(hanging.length, 1);
      await eventually(() => aborted === 1, 2000); // the fetch was abandoned, not left open
    } finally {
      for (const r of hanging) r.socket.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('is refused on an issuer without jwks_url', () => {
    assert.throws(() => compileAuth({ issuers: [{ issuer: ISSUER, audience: 'infergate', secret: SECRET, algorithms: ['HS256'], jwks_timeout: '1s' }] }), /jwks_timeout only applies to jwks_url/);
  });
});

describe('403 over HTTP', () => {
  it('the OpenAI route and the admin API both send the insufficient_scope challenge', async () => {
    const [sim] = await startSims(1);
    const gw = await startTestGateway([{ name: 'llama', backends: [{ url: sim!.url, model: 'sim-llama-8b' }] }, { name: 'secret-model', backends: [{ url: sim!.url, model: 'sim-llama-8b' }] }], {
      sections: { auth: { issuers: [{ issuer: ISSUER, audience: 'infergate', secret: SECRET, algorithms: ['HS256'] }] } },
    });
    try {
      const jwt = await new SignJWT({ scope: 'models:llama' }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setIssuer(ISSUER).setAudience('infergate').setIssuedAt().setExpirationTime('1h').sign(hmac);
      const denied = await client(gw, { apiKey: jwt })
        .chat.completions.create({ model: 'secret-model', messages: [{ role: 'user', content: 'hi' }] })
        .catch((err: unknown) => err);
      assert.ok(denied instanceof OpenAI.PermissionDeniedError);
      assert.equal(denied.headers?.get('www-authenticate'), 'Bearer realm="infergate", error="insufficient_scope", scope="models:secret-model"');
      const admin = await fetch(`${gw.url}/admin/limits`, { headers: { authorization: `Bearer ${jwt}` } });
      assert.equal(admin.status, 403);
      assert.equal(admin.headers.get('www-authenticate'), 'Bearer realm="infergate", error="insufficient_scope", scope="admin"');
    } finally {
      await closeAll(gw, sim);
    }
  });
});
