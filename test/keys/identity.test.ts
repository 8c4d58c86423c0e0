import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRequestCtx } from '../../src/core/index.js';
import { requestLogLine } from '../../src/telemetry/request-log.js';

test('the request log line names the API key a request came with (its public id, never the key)', () => {
  const ctx = createRequestCtx('r1', 0, 0);
  ctx.principal = { subject: 'app', team: 't', scopes: new Set(['models:*']), keyId: 'k7x2m9q4ab' };
  assert.equal(requestLogLine(ctx, 5, null).key_id, 'k7x2m9q4ab');
  ctx.principal = { subject: 'jwt-user', team: null, scopes: new Set() };
  assert.equal(requestLogLine(ctx, 5, null).key_id, null);
});
