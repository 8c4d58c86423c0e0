import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JWK } from 'jose';
import { createManualClock, GatewayError } from '../../src/core/index.js';
import { authFailureOf, createAuthenticator } from '../../src/auth/index.js';
import { compileAuth, keyPair, NOW_MS, sign } from './fixtures.js';

/** A JWKS endpoint on 127.0.0.1:0 whose key list the test changes, counting fetches. */
async function startJwks(keys: JWK[]) {
  const state = { keys, hits: 0 };
  const server: Server = createServer((_req, res) => {
    state.hits++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  const stop = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return { state, url, stop };
}

async function failure(p: unknown): Promise<string | null> {
  try {
    await p;
    return null;
  } catch (err) {
    assert.ok(err instanceof GatewayError);
    return authFailureOf(err) ?? err.code;
  }
}

describe('JWKS issuers', async () => {
  const k1 = await keyPair('RS256');
  const k2 = await keyPair('ES256');
  const jwk1 = { ...k1.jwk, kid: 'k1', alg: 'RS256', use: 'sig' };
  const jwk2 = { ...k2.jwk, kid: 'k2', alg: 'ES256' };
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const s of stops) await s();
  });

  const setup = async (cooldown: string, maxAge = '10m') => {
    const jwks = await startJwks([jwk1]);
    stops.push(jwks.stop);
    const clock = createManualClock(0, NOW_MS);
    const auth = createAuthenticator(
      compileAuth({
        issuers: [{ issuer: 'https://idp.test/', audience: 'infergate', jwks_url: jwks.url, jwks_cooldown: cooldown, jwks_cache_max_age: maxAge, algorithms: ['RS256', 'ES256'] }],
        token_cache_size: 0,
      }),
      { clock, jwksTimeoutMs: 1000 },
    );
    return { jwks, clock, auth };
  };

  it('fetches the key set once and then verifies from cache', async () => {
    const { jwks, auth } = await setup('30s');
    const token = await sign({ alg: 'RS256', key: k1.privateKey, kid: 'k1' });
    await auth.authenticate(`Bearer ${token}`);
    await auth.authenticate(`Bearer ${token}`);
    await Promise.all([1, 2, 3].map(() => auth.authenticate(`Bearer ${token}`)));
    assert.equal(jwks.state.hits, 1);
  });

  it('refetches once on an unknown kid after the cooldown, then answers 401 unknown_key without refetching', async () => {
    const { jwks, auth } = await setup('150ms');
    await auth.authenticate(`Bearer ${await sign({ alg: 'RS256', key: k1.privateKey, kid: 'k1' })}`);
    assert.equal(jwks.state.hits, 1);

    // Key rotation: the IdP publishes k2; a token signed with it triggers one refetch once the cooldown passed.
    jwks.state.keys = [jwk1, jwk2];
    await sleep(200);
    const p = await auth.authenticate(`Bearer ${await sign({ alg: 'ES256', key: k2.privateKey, kid: 'k2' })}`);
    assert.equal(p.subject, 'alice');
    assert.equal(jwks.state.hits, 2);

    // A kid nobody publishes: within the cooldown no refetch at all.
    const ghost = await sign({ alg: 'RS256', key: k1.privateKey, kid: 'ghost' });
    assert.equal(await failure(auth.authenticate(`Bearer ${ghost}`)), 'unknown_key');
    assert.equal(await failure(auth.authenticate(`Bearer ${ghost}`)), 'unknown_key');
    assert.equal(jwks.state.hits, 2);

    // After the cooldown: exactly one refetch, still unknown, 401.
    await sleep(200);
    assert.equal(await failure(auth.authenticate(`Bearer ${ghost}`)), 'unknown_key');
    assert.equal(await failure(auth.authenticate(`Bearer ${ghost}`)), 'unknown_key');
    assert.equal(jwks.state.hits, 3);
  });

  it('keeps verifying with cached keys when the issuer goes down, even after they are stale', async () => {
    const { jwks, clock, auth } = await setup('1s', '1m');
    const token = await sign({ alg: 'RS256', key: k1.privateKey, kid: 'k1' });
    await auth.authenticate(`Bearer ${token}`);
    await jwks.stop();
    clock.advance(5 * 60_000); // keys are now stale; the background refresh fails
    for (let i = 0; i < 5; i++) assert.equal((await auth.authenticate(`Bearer ${token}`)).subject, 'alice');
    await sleep(50);
    assert.equal((await auth.authenticate(`Bearer ${token}`)).subject, 'alice');
    const stats = auth.stats.jwks.get('https://idp.test/');
    assert.ok(stats && stats.fetchErrors >= 1, 'the failed refresh is counted');
    assert.ok(stats.servedStale >= 1);
    // An unknown kid while the issuer is down is a plain 401, not a hang or a 5xx.
    assert.equal(await failure(auth.authenticate(`Bearer ${await sign({ alg: 'RS256', key: k1.privateKey, kid: 'nope' })}`)), 'unknown_key');
  });

  it('answers 503 when the key set was never reachable', async () => {
    const { jwks, auth } = await setup('1s');
    await jwks.stop();
    const err = await Promise.resolve().then(async () => auth.authenticate(`Bearer ${await sign({ alg: "RS256", key: k1.privateKey, kid: "k1" })}`)).catch((e: unknown) => e);
    assert.ok(err instanceof GatewayError);
    assert.equal(err.status, 503);
    assert.equal(err.wireCode, 'auth_keys_unavailable');
  });

  it('refuses an algorithm the issuer does not pin even when the JWKS has a matching key', async () => {
    const { auth } = await setup('30s');
    const pss = await keyPair('PS256');
    const ps = await sign({ alg: 'PS256', key: pss.privateKey, kid: 'k1' });
    assert.equal(await failure(auth.authenticate(`Bearer ${ps}`)), 'algorithm_not_allowed');
  });
});
