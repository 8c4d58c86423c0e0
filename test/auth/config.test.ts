import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { authSectionSchema } from '../../src/config/governance-schema.js';
import { AuthConfigError, compileAuthConfig, createAuthenticator, ensureDevSecret, mintDevToken } from '../../src/auth/index.js';
import { keyPair, SECRET } from './fixtures.js';

function problems(input: unknown): string[] {
  const r = authSectionSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

const base = { issuer: 'i', audience: 'a' };

describe('auth config validation', async () => {
  const rsa = await keyPair('RS256');
  const ec = await keyPair('ES256');

  it('accepts auth: none and a minimal HS256 issuer with defaults', () => {
    assert.equal(authSectionSchema.parse('none'), 'none');
    const cfg = authSectionSchema.parse({ issuers: [{ ...base, secret: SECRET, algorithms: ['HS256'] }] });
    assert.ok(cfg !== 'none');
    assert.deepEqual(cfg.claims, { subject: 'sub', team: 'team', scopes: ['scope', 'scp'] });
    assert.equal(cfg.clock_tolerance, 30_000);
    assert.deepEqual(cfg.open_routes, ['/healthz', '/readyz']);
  });

  it('rejects alg none with a clear message', () => {
    assert.match(problems({ issuers: [{ ...base, secret: SECRET, algorithms: ['none'] }] }).join(), /"none" is never accepted/);
  });

  it('rejects HS* with a public key or a JWKS, and RS/ES with a secret', () => {
    assert.match(problems({ issuers: [{ ...base, public_key: rsa.pem, algorithms: ['HS256'] }] }).join(), /never verified with a public key/);
    assert.match(problems({ issuers: [{ ...base, jwks_url: 'https://x/jwks', algorithms: ['RS256', 'HS256'] }] }).join(), /algorithms\.1/);
    assert.match(problems({ issuers: [{ ...base, secret: SECRET, algorithms: ['RS256'] }] }).join(), /needs a public key/);
  });

  it('needs exactly one key source', () => {
    assert.match(problems({ issuers: [{ ...base, algorithms: ['HS256'] }] }).join(), /exactly one key source/);
    assert.match(problems({ issuers: [{ ...base, secret: SECRET, jwks_url: 'https://x', algorithms: ['HS256'] }] }).join(), /secret and jwks_url/);
  });

  it('rejects short secrets, unknown keys, duplicate issuers and opening /v1 routes', () => {
    assert.match(problems({ issuers: [{ ...base, secret: 'short', algorithms: ['HS256'] }] }).join(), /at least 32 bytes/);
    assert.match(problems({ issuers: [{ ...base, secret: SECRET, algorithms: ['HS512'] }] }).join(), /at least 64 bytes/);
    assert.ok(problems({ issuers: [{ ...base, secret: SECRET, algorithms: ['HS256'], algorithm: 'x' }] }).length > 0);
    assert.match(problems({ issuers: [{ ...base, secret: SECRET, algorithms: ['HS256'] }, { ...base, secret: SECRET, algorithms: ['HS256'] }] }).join(), /listed twice/);
    assert.match(problems({ issuers: [{ ...base, secret: SECRET, algorithms: ['HS256'] }], open_routes: ['/v1/models'] }).join(), /always require a token/);
  });

  it('refuses private keys and keys that do not fit the algorithm at compile time', () => {
    const compile = (public_key: unknown, algorithms: string[]) =>
      compileAuthConfig(authSectionSchema.parse({ issuers: [{ ...base, public_key, algorithms }] }));
    assert.throws(() => compile(ec.pem, ['RS256']), (e: unknown) => e instanceof AuthConfigError && /RS256 cannot be verified with this ec/.test(e.message));
    assert.throws(() => compile(ec.jwk, ['ES384']), /ES384 cannot be verified/);
    assert.throws(() => compile({ ...ec.jwk, d: 'secret-part' }, ['ES256']), (e: unknown) => e instanceof AuthConfigError && !e.message.includes('secret-part'));
    assert.throws(() => compile('-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----', ['RS256']), /private key/);
    assert.throws(() => compile('garbage', ['RS256']), /not a valid PEM/);
    assert.ok(compile(rsa.pem, ['RS256', 'PS256']));
  });
});

describe('development secret and tokens', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'infergate-auth-'));
  after(() => rm(dir, { recursive: true, force: true }));

  it('creates a 0600 secret file on first use and returns the same secret afterwards', async () => {
    const path = join(dir, 'data', 'dev-secret');
    const s1 = await ensureDevSecret(path);
    assert.ok(s1.length >= 43);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal(await ensureDevSecret(path), s1);
    assert.equal((await readFile(path, 'utf8')).trim(), s1);
  });

  it('lets concurrent first starts agree on one secret', async () => {
    const path = join(dir, 'race', 'dev-secret');
    const all = await Promise.all(Array.from({ length: 16 }, () => ensureDevSecret(path)));
    assert.equal(new Set(all).size, 1);
    assert.match(all[0]!, /^[A-Za-z0-9_-]{43}$/, 'a whole secret, never a half-written file');
    assert.deepEqual(readdirSync(join(dir, 'race')), ['dev-secret'], 'no temporary files left behind');
  });

  it('mints a token that a secret_file issuer with generate_if_missing accepts', async () => {
    const path = join(dir, 'gen', 'dev-secret');
    const compiled = compileAuthConfig(
      authSectionSchema.parse({ issuers: [{ issuer: 'infergate-dev', audience: 'infergate', secret_file: path, generate_if_missing: true, algorithms: ['HS256'] }] }),
    );
    assert.ok(compiled);
    const token = await mintDevToken({ secret: await ensureDevSecret(path), sub: 'alice', team: 'research', scope: 'models:* admin', ttl: '1h' });
    assert.equal(decodeProtectedHeader(token).alg, 'HS256');
    const claims = decodeJwt(token);
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 3600);
    const p = await createAuthenticator(compiled).authenticate(`Bearer ${token}`);
    assert.deepEqual([p.subject, p.team, [...p.scopes]], ['alice', 'research', ['models:*', 'admin']]);
  });

  it('fails clearly when a secret_file is missing and may not be generated', () => {
    const cfg = authSectionSchema.parse({ issuers: [{ ...base, secret_file: join(dir, 'nope'), algorithms: ['HS256'] }] });
    assert.throws(() => compileAuthConfig(cfg), (e: unknown) => e instanceof AuthConfigError && /ENOENT/.test(e.message) && e.path.join('.') === 'issuers.0.secret_file');
  });
});
