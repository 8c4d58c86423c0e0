import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createManualClock, GatewayError } from '../../src/core/index.js';
import { authFailureOf, createAuthenticator, type AuthFailure } from '../../src/auth/index.js';
import { compileAuth, hmac, keyPair, NOW_MS, NOW_S, SECRET, sign } from './fixtures.js';

const clock = () => createManualClock(0, NOW_MS);

async function rejects(p: unknown, reason: AuthFailure, status = 401): Promise<GatewayError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof GatewayError, `expected GatewayError, got ${String(err)}`);
    assert.equal(err.status, status);
    assert.equal(authFailureOf(err), reason, `message: ${err.message}`);
    return err;
  }
  assert.fail(`expected a ${reason} rejection`);
}

describe('authenticate with static keys', async () => {
  const rsa = await keyPair('RS256');
  const ec = await keyPair('ES256');
  const ed = await keyPair('EdDSA');
  const config = compileAuth({
    issuers: [
      { issuer: 'https://idp.test/', audience: 'infergate', secret: SECRET, algorithms: ['HS256'] },
      { issuer: 'rsa-issuer', audience: ['infergate', 'other'], public_key: rsa.pem, algorithms: ['RS256'] },
      { issuer: 'ec-issuer', audience: 'infergate', public_key: ec.jwk, algorithms: ['ES256'] },
      { issuer: 'ed-issuer', audience: 'infergate', public_key: ed.pem, algorithms: ['EdDSA'] },
    ],
    claims: { subject: 'sub', team: 'team', groups: 'groups', scopes: ['scope', 'scp'] },
    max_token_bytes: '4KiB',
    clock_tolerance: '5s',
  });
  const auth = createAuthenticator(config, { clock: clock() });

  it('accepts an HS256 token and maps subject, team, groups and both scope claim styles', async () => {
    const token = await sign({ alg: 'HS256', key: hmac, claims: { scope: 'models:a admin', scp: ['models:b'], groups: ['g1', 'g2'] } });
    const p = await auth.authenticate(`Bearer ${token}`);
    assert.equal(p.subject, 'alice');
    assert.equal(p.team, 'research');
    assert.deepEqual([...p.scopes].sort(), ['admin', 'models:a', 'models:b']);
    assert.deepEqual(p.groups, ['g1', 'g2']);
    assert.equal(p.expiresAtMs, (NOW_S + 3600) * 1000);
  });

  it('separates scopes by spaces alone: a tab or a no-break space inside a scope never grants a second one', async () => {
    for (const scope of ['models:a\u00a0admin', 'models:a\tadmin', 'models:a\nadmin']) {
      const token = await sign({ alg: 'HS256', key: hmac, claims: { scope: `models:b  ${scope} ` } });
      const p = await auth.authenticate(`Bearer ${token}`);
      assert.deepEqual([...p.scopes].sort(), ['models:b', scope].sort(), JSON.stringify(scope));
      assert.ok(!p.scopes.has('admin'));
    }
  });

  it('accepts RS256 (PEM), ES256 (JWK) and EdDSA tokens, each routed to its issuer by iss', async () => {
    for (const [iss, alg, key] of [
      ['rsa-issuer', 'RS256', rsa.privateKey],
      ['ec-issuer', 'ES256', ec.privateKey],
      ['ed-issuer', 'EdDSA', ed.privateKey],
    ] as const) {
      const p = await auth.authenticate(`Bearer ${await sign({ alg, key, iss })}`);
      assert.equal(p.issuer, iss);
    }
  });

  it('reads the scheme case-insensitively', async () => {
    const token = await sign({ alg: 'HS256', key: hmac });
    assert.equal((await auth.authenticate(`bearer ${token}`)).subject, 'alice');
  });

  it('answers a missing header with a bare Bearer challenge', async () => {
    const err = await rejects(auth.authenticate(undefined), 'missing');
    assert.equal(err.headers?.['WWW-Authenticate'], 'Bearer realm="infergate"');
    await rejects(auth.authenticate('   '), 'missing');
  });

  it('refuses malformed Authorization headers', async () => {
    for (const h of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer not-a-jwt', 'Bearer a.b', 'Bearer a.b.c.d', 'Bearer ey$.ey.sig', 'Token a.b.c', 'Bearer a.b.c extra']) {
      const err = await rejects(auth.authenticate(h), 'malformed');
      assert.match(err.headers?.['WWW-Authenticate'] ?? '', /error="invalid_token", error_description="/);
    }
    await rejects(auth.authenticate('Bearer bm90anNvbg.bm90anNvbg.c2ln'), 'malformed');
    // Another scheme is named as the problem, not the token.
    for (const h of ['Basic dXNlcjpwYXNz', 'Token a.b.c', 'Bearer-ish a.b.c']) {
      assert.match((await rejects(auth.authenticate(h), 'malformed')).message, /must use the Bearer scheme/);
    }
    assert.match((await rejects(auth.authenticate('Bearer a.b'), 'malformed')).message, /not a well-formed JWT/);
    // An API key sent to a gateway that issues none is told so.
    assert.match((await rejects(auth.authenticate(`Bearer sk-ig-k7x2m9q4ab-${'A'.repeat(43)}`), 'malformed')).message, /does not accept API keys/);
  });

  it('refuses a 100 KB token before parsing it', async () => {
    const big = await sign({ alg: 'HS256', key: hmac, claims: { pad: 'x'.repeat(100_000) } });
    await rejects(auth.authenticate(`Bearer ${big}`), 'too_large');
  });

  it('refuses alg none', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ sub: 'x', iss: 'https://idp.test/', aud: 'infergate', exp: NOW_S + 60 })).toString('base64url');
    await rejects(auth.authenticate(`Bearer ${header}.${body}.`), 'algorithm_not_allowed');
  });

  it('refuses an HS256 token whose HMAC key is the RSA public key (algorithm confusion)', async () => {
    const token = await sign({ alg: 'HS256', key: new TextEncoder().encode(rsa.pem), iss: 'rsa-issuer' });
    await rejects(auth.authenticate(`Bearer ${token}`), 'algorithm_not_allowed');
  });

  it('refuses a token signed with another secret', async () => {
    const token = await sign({ alg: 'HS256', key: new TextEncoder().encode(`${SECRET}-other`) });
    const err = await rejects(auth.authenticate(`Bearer ${token}`), 'bad_signature');
    assert.ok(!err.message.includes(SECRET) && !JSON.stringify(err.headers).includes(SECRET));
  });

  it('refuses an RS256 token signed by another key', async () => {
    const other = await keyPair('RS256');
    await rejects(auth.authenticate(`Bearer ${await sign({ alg: 'RS256', key: other.privateKey, iss: 'rsa-issuer' })}`), 'bad_signature');
  });

  it('refuses expired tokens beyond the clock tolerance and accepts them within it', async () => {
    await rejects(auth.authenticate(`Bearer ${await sign({ alg: 'HS256', key: hmac, expS: NOW_S - 6 })}`), 'expired');
    await auth.authenticate(`Bearer ${await sign({ alg: 'HS256', key: hmac, expS: NOW_S - 4 })}`);
  });

  it('refuses tokens that are not valid yet', async () => {
    await rejects(auth.authenticate(`Bearer ${await sign({ alg: 'HS256', key: hmac, nbfS: NOW_S + 60 })}`), 'not_yet_valid');
  });

  it('refuses a wrong audience and an untrusted issuer', async () => {
    await rejects(auth.authenticate(`Bearer ${await sign({ alg: 'HS256', key: hmac, aud: 'someone-else' })}`), 'wrong_audience');
    await rejects(auth.authenticate(`Bearer ${await sign({ alg: 'HS256', key: hmac, iss: 'https://evil.test/' })}`), 'wrong_issuer');
  });

  it('refuses tokens without exp or without a subject', async () => {
    const { SignJWT } = await import('jose');
    const noExp = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://idp.test/').setAudience('infergate').sign(hmac);
    const e1 = await rejects(auth.authenticate(`Bearer ${noExp}`), 'invalid_claims');
    assert.match(e1.message, /exp/);
    const noSub = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://idp.test/').setAudience('infergate').setExpirationTime(NOW_S + 60).sign(hmac);
    await rejects(auth.authenticate(`Bearer ${noSub}`), 'invalid_claims');
  });

  it('counts failures by reason', () => {
    assert.ok((auth.stats.failures.expired ?? 0) >= 1);
    assert.ok((auth.stats.failures.malformed ?? 0) >= 1);
  });
});

describe('verified-token cache', async () => {
  it('serves a hot token from the cache but never past its exp', async () => {
    const c = clock();
    const auth = createAuthenticator(
      compileAuth({ issuers: [{ issuer: 'https://idp.test/', audience: 'infergate', secret: SECRET, algorithms: ['HS256'] }], clock_tolerance: 0 }),
      { clock: c },
    );
    const token = await sign({ alg: 'HS256', key: hmac, expS: NOW_S + 60 });
    const a = await auth.authenticate(`Bearer ${token}`);
    const b = await auth.authenticate(`Bearer ${token}`);
    assert.equal(a, b);
    assert.equal(auth.stats.verified, 1);
    assert.equal(auth.stats.cacheHits, 1);
    // A hit is answered synchronously (no promise on the hot path); a tampered header is never a hit.
    const sync = auth.authenticate(`Bearer ${token}`);
    assert.ok(!(sync instanceof Promise));
    assert.equal(sync, a);
    await rejects(auth.authenticate(`Bearer ${token.slice(0, -2)}xx`), 'bad_signature');
    await rejects(auth.authenticate(`Bearer ${token}x`), 'bad_signature');
    c.advance(61_000);
    await rejects(auth.authenticate(`Bearer ${token}`), 'expired');
  });

  it('never answers a header that only ends like a cached one: a cached signature pasted onto another payload fails', async () => {
    const auth = createAuthenticator(
      compileAuth({ issuers: [{ issuer: 'https://idp.test/', audience: 'infergate', secret: SECRET, algorithms: ['HS256'] }] }),
      { clock: clock() },
    );
    const token = await sign({ alg: 'HS256', key: hmac, claims: { scope: 'models:small' } });
    const ok = await auth.authenticate(`Bearer ${token}`);
    assert.ok(ok.scopes.has('models:small'));
    const [header, , signature] = token.split('.');
    const payload = Buffer.from(JSON.stringify({ iss: 'https://idp.test/', aud: 'infergate', sub: 'mallory', scope: 'admin models:*', exp: NOW_S + 3600 })).toString('base64url');
    const forged = `Bearer ${header}.${payload}.${signature}`;
    assert.equal(forged.slice(-24), `Bearer ${token}`.slice(-24), 'same cache key');
    await rejects(auth.authenticate(forged), 'bad_signature');
    // The real token is still served (from the cache or verified again), and still as itself.
    assert.equal((await auth.authenticate(`Bearer ${token}`)).subject, ok.subject);
  });

  it('caches tokens longer than the header key limit by their hash', async () => {
    const auth = createAuthenticator(
      compileAuth({ issuers: [{ issuer: 'https://idp.test/', audience: 'infergate', secret: SECRET, algorithms: ['HS256'] }] }),
      { clock: clock() },
    );
    const token = await sign({ alg: 'HS256', key: hmac, claims: { pad: 'x'.repeat(3000) } });
    const a = await auth.authenticate(`Bearer ${token}`);
    assert.equal(await auth.authenticate(`Bearer ${token}`), a);
    assert.equal(auth.stats.verified, 1);
    assert.equal(auth.stats.cacheHits, 1);
  });

  it('stays within its size bound', async () => {
    const auth = createAuthenticator(
      compileAuth({ issuers: [{ issuer: 'https://idp.test/', audience: 'infergate', secret: SECRET, algorithms: ['HS256'] }], token_cache_size: 2 }),
      { clock: clock() },
    );
    const tokens = await Promise.all(['a', 'b', 'c'].map((sub) => sign({ alg: 'HS256', key: hmac, claims: { nonce: sub } })));
    for (const t of tokens) await auth.authenticate(`Bearer ${t}`);
    await auth.authenticate(`Bearer ${tokens[0]}`); // evicted as the oldest, so verified again
    assert.equal(auth.stats.verified, 4);
  });
});

describe('open routes', () => {
  it('lists exactly the configured paths', () => {
    const auth = createAuthenticator(
      compileAuth({ issuers: [{ issuer: 'i', audience: 'a', secret: SECRET, algorithms: ['HS256'] }], open_routes: ['/healthz', '/metrics'] }),
    );
    assert.equal(auth.isOpenRoute('/metrics'), true);
    assert.equal(auth.isOpenRoute('/readyz'), false);
    assert.equal(auth.isOpenRoute('/v1/models'), false);
  });
});
