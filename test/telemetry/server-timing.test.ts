import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createManualClock } from '../../src/core/index.js';
import { serverTiming } from '../../src/telemetry/index.js';
import { newCtx } from './fixtures.js';

test('splits total time into the gateway share and the upstream share', () => {
  const clock = createManualClock(100);
  const ctx = newCtx(clock, { upstreamMs: 12.5 });
  assert.equal(serverTiming(ctx, ctx.startMs + 13.75), 'gateway;dur=1.25, upstream;dur=12.50');
});

test('reports only the gateway when no upstream was reached', () => {
  const clock = createManualClock(0);
  const ctx = newCtx(clock);
  assert.equal(serverTiming(ctx, ctx.startMs + 0.4), 'gateway;dur=0.40');
});

test('never reports a negative gateway time when the upstream figure exceeds the total', () => {
  const clock = createManualClock(0);
  const ctx = newCtx(clock, { upstreamMs: 20 });
  assert.equal(serverTiming(ctx, ctx.startMs + 15), 'gateway;dur=0.00, upstream;dur=15.00');
});
