/**
 * `npm run bench:overhead -- --keys`: what authenticating one request costs in the gateway's own Authenticator,
 * for a gateway-managed API key against a JWT, each once seen (the hot path: one Map probe for both) and on first
 * use (HMAC-SHA256 under the pepper for a key, a jose signature check for a JWT). In-process, single-threaded, the
 * same calls the pipeline makes; rounds alternate the rows so that the other engineers' jobs on this shared machine
 * hit both alike, and the table reports medians over rounds and the key/JWT ratio.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { compileAuthConfig, createAuthenticator, createKeyRegistry, createSqliteKeyStore, mintDevToken, type Authenticator } from '../../src/auth/index.js';
import { governanceShape } from '../../src/config/governance-schema.js';
import { median, quantile } from './stats.js';

interface Row {
  label: string;
  /** ns per authenticate() call, one value per round. */
  rounds: number[];
}

const SECRET = randomBytes(32).toString('base64url');

async function authenticator(tokenCacheSize: number, keyCacheSize: number, dir: string): Promise<{ auth: Authenticator; keyHeader: () => Promise<string>; close: () => Promise<void> }> {
  const section = z.strictObject({ auth: governanceShape.auth }).parse({
    auth: { issuers: [{ issuer: 'bench', audience: 'infergate', secret: SECRET, algorithms: ['HS256'] }], token_cache_size: Math.max(tokenCacheSize, 0) },
  }).auth;
  const registry = await createKeyRegistry({ store: createSqliteKeyStore(join(dir, `keys-${keyCacheSize}.db`)), pepper: randomBytes(32), cacheSize: keyCacheSize });
  const auth = createAuthenticator(compileAuthConfig(section)!, { apiKeys: registry });
  return {
    auth,
    keyHeader: async () => `Bearer ${(await registry.create({ subject: 'bench', team: 'bench', scopes: ['models:*'] })).secret}`,
    close: () => registry.close(),
  };
}

/** ns per call of `fn` over `n` calls (awaiting only when a call returns a promise). */
async function time(n: number, fn: () => unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const r = fn();
    if (r instanceof Promise) await r;
  }
  return Number(process.hrtime.bigint() - t0) / n;
}

export async function runKeysBench(options: { rounds: number; quick: boolean; header: string }): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'infergate-bench-keys-'));
  try {
    const cached = await authenticator(10_000, 10_000, dir);
    const uncached = await authenticator(0, 0, dir);
    const jwt = `Bearer ${await mintDevToken({ secret: SECRET, sub: 'bench', scope: 'models:*', ttl: '1h', issuer: 'bench', audience: 'infergate' })}`;
    const key = await cached.keyHeader();
    const coldKey = await uncached.keyHeader();
    await cached.auth.authenticate(jwt);
    cached.auth.authenticate(key);
    const hot = options.quick ? 200_000 : 1_000_000;
    const cold = options.quick ? 2_000 : 10_000;
    const rows: Row[] = [
      { label: 'JWT, cached (verified before)', rounds: [] },
      { label: 'API key, cached (seen before)', rounds: [] },
      { label: 'JWT, first use (HS256 signature check)', rounds: [] },
      { label: 'API key, first use (HMAC-SHA256 under the pepper)', rounds: [] },
    ];
    const runs: (() => Promise<number>)[] = [
      () => time(hot, () => cached.auth.authenticate(jwt)),
      () => time(hot, () => cached.auth.authenticate(key)),
      () => time(cold, () => uncached.auth.authenticate(jwt)),
      () => time(cold, () => uncached.auth.authenticate(coldKey)),
    ];
    await Promise.all(runs.map((r) => r())); // warm-up: JIT, caches
    for (let round = 0; round < options.rounds; round++) {
      // Alternate the order each round so drift on a shared machine does not favour one row.
      const order = round % 2 === 0 ? [0, 1, 2, 3] : [1, 0, 3, 2];
      for (const i of order) rows[i]!.rounds.push(await runs[i]!());
    }
    await cached.close();
    await uncached.close();
    const m = rows.map((r) => median(r.rounds));
    const lines = [
      '# Authenticating a request: gateway-managed API key vs JWT',
      '',
      options.header,
      '',
      `In-process \`Authenticator.authenticate()\` calls (what the pipeline runs per request), ${options.rounds} alternating rounds of ${hot.toLocaleString('en')} cached or ${cold.toLocaleString('en')} first-use calls; median over rounds, interquartile range beside it.`,
      '',
      '| row | ns per request | IQR (ns) | vs cached JWT |',
      '|---|---:|---:|---:|',
      ...rows.map((r, i) => `| ${r.label} | ${m[i]!.toFixed(0)} | ${quantile(r.rounds, 0.25).toFixed(0)}–${quantile(r.rounds, 0.75).toFixed(0)} | ${(m[i]! / m[0]!).toFixed(2)}× |`),
      '',
      `A key seen before costs ${(m[1]! / m[0]!).toFixed(2)}× a cached JWT: one Map probe on the header plus a few field reads on the key's record (revoked? expired? still this secret?), no clock read unless the key expires. A key's first use costs ${(m[3]! / m[2]!).toFixed(2)}× a JWT's first signature check.`,
      '',
    ];
    return lines.join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
