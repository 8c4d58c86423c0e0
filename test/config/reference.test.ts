import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { REFERENCE_PATH, referenceRows, renderReference } from '../../scripts/config-reference.js';
import { parseConfigText } from '../../src/config/index.js';

test('config/REFERENCE.md is generated from the current schema', () => {
  const committed = readFileSync(REFERENCE_PATH, 'utf8');
  assert.ok(
    committed === renderReference(),
    'config/REFERENCE.md is stale: the config schema changed. Run `npm run config:reference` and commit config/REFERENCE.md (add a .describe() to any new key).',
  );
});

test('the reference lists every auth key with its type, default and description', () => {
  const rows = new Map(referenceRows().map((r) => [r.path, r]));
  for (const key of [
    'auth.issuers[].jwks_cooldown',
    'auth.issuers[].jwks_cache_max_age',
    'auth.issuers[].jwks_timeout',
    'auth.issuers[].max_token_lifetime',
    'auth.token_cache_size',
    'auth.claims.groups',
    'auth.max_token_bytes',
    'server.max_connections',
    'server.max_header_size',
    'server.timeouts.body',
  ]) {
    const row = rows.get(key);
    assert.ok(row, `${key} is in the reference`);
    assert.ok(row.description.length > 10, `${key} has a description`);
  }
  assert.equal(rows.get('auth.token_cache_size')?.default, '`10000`');
  assert.equal(rows.get('auth.clock_tolerance')?.type, 'duration');
  assert.equal(rows.get('auth.clock_tolerance')?.default, '`30s`');
  assert.equal(rows.get('server.max_header_size')?.default, '`32KiB`');
  assert.match(rows.get('auth')?.type ?? '', /"none" \\\| mapping/);
});

test('every key in the reference is one the loader accepts, and nothing else is', () => {
  // A config that sets one documented leaf per section: the loader must accept exactly the paths listed.
  const paths = new Set(referenceRows().map((r) => r.path));
  for (const p of ['server.listen', 'models[].backends[].url', 'routing.retry_budget.window', 'usage.writer_thread', 'telemetry.log_level']) assert.ok(paths.has(p), p);
  assert.throws(() => parseConfigText('auth: none\nsim: {}\nserver:\n  not_in_reference: 1\n', 'x.yaml'), /unknown key "not_in_reference"/);
  assert.ok(!paths.has('server.not_in_reference'));
});

test('the reference marks the keys a config cannot leave out', () => {
  const required = referenceRows().filter((r) => r.default === '**required**').map((r) => r.path);
  for (const p of ['auth', 'models[].name', 'models[].backends', 'models[].backends[].url', 'auth.issuers[].audience', 'models[].backends[].kv_events.tokenizer', 'usage.sqlite']) {
    assert.ok(required.includes(p), `${p} is marked required`);
  }
  // Each marked key is one the loader refuses to go without.
  const issuer = `{ issuer: i, audience: a, algorithms: [HS256], secret: "${'s'.repeat(32)}" }`;
  const full = `auth: { issuers: [${issuer}] }\nusage: { sqlite: u.db }\nmodels: [{ name: m, backends: [{ url: "http://h:1", kv_events: { endpoint: "tcp://h:1", tokenizer: simulator } }] }]\n`;
  assert.doesNotThrow(() => parseConfigText(full, 'x.yaml'));
  for (const [path, without] of [
    ['models[0].backends[0].url', full.replace('url: "http://h:1", ', '')],
    ['models[0].backends[0].kv_events.tokenizer', full.replace(', tokenizer: simulator', '')],
    ['auth.issuers[0].audience', full.replace('audience: a, ', '')],
    ['usage.sqlite', full.replace('sqlite: u.db', '')],
  ] as const) {
    assert.throws(() => parseConfigText(without, 'x.yaml'), (err: Error) => err.message.includes(`${path}: `), path);
  }
  assert.ok(!required.includes('models[].backends[].kind'), 'a key with a default is not required');
});
