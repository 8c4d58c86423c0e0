import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCreateKey, parseUpdateKey } from '../../src/auth/index.js';
import { isGatewayError } from '../../src/core/index.js';

const NOW = Date.parse('2026-12-07T00:00:00Z');
const refused = (fn: () => unknown, param: string) =>
  assert.throws(fn, (e: unknown) => isGatewayError(e) && e.status === 400 && (e as { param?: string | null }).param === param);

test('an expiry no Date can hold is a 400 naming the field, not a stored key that breaks every listing with a 500', () => {
  for (const expires_at of [1e300, -1e300, 8.64e15 + 1]) {
    refused(() => parseCreateKey({ subject: 'a', scopes: 'models:x', expires_at }, NOW), 'expires_at');
    refused(() => parseUpdateKey({ expires_at }, NOW), 'expires_at');
  }
  refused(() => parseCreateKey({ subject: 'a', scopes: 'models:x', ttl: '99999999d' }, NOW), 'ttl');
  refused(() => parseUpdateKey({ ttl: 1e300 }, NOW), 'ttl');
  // What can be shown is still accepted, and shown.
  const k = parseCreateKey({ subject: 'a', scopes: 'models:x', ttl: '3650d' }, NOW);
  assert.equal(new Date(k.expiresMs!).toISOString(), '2036-12-04T00:00:00.000Z');
  assert.equal(parseCreateKey({ subject: 'a', scopes: 'models:x', expires_at: 8.64e15 }, NOW).expiresMs, 8.64e15);
});

test('a key\'s scopes are separated by spaces alone: other whitespace inside a scope is refused, never read as two scopes', () => {
  assert.deepEqual(parseCreateKey({ subject: 'a', scopes: ' models:x  admin ' }, NOW).scopes, ['models:x', 'admin']);
  for (const scopes of ['models:x\u00a0admin', 'models:x\tadmin']) refused(() => parseCreateKey({ subject: 'a', scopes }, NOW), 'scopes.0');
});
