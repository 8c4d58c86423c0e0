import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TwinPrefixIndex } from '../../src/routing/prefix/twin-index.js';
import type { BackendTarget } from '../../src/routing/types.js';
import { pool, request, setup, targets, text } from './helpers.js';

describe('decision cost with 64 backends', () => {
  it('looks up O(backends · log prompt) prefix keys per decision, not O(backends · prompt)', () => {
    const { core, clock } = setup();
    const t = targets(64);
    const p = pool('token_aware', t);
    const sys = text(60_000, 'sys');
    // Warm a few backends with the long shared prefix and load the fleet a little.
    for (let i = 0; i < 200; i++) {
      const req = request(16_000, i % 3 === 0 ? sys : text(200, `other${i}`));
      const order = core.plan(p, t, req, { resolve() {}, reject() {} }) as BackendTarget[];
      const tr = core.begin(order[0]!, req);
      tr.firstToken();
      tr.tokens(10);
      clock.advance(5);
    }
    let lookups = 0;
    const has = TwinPrefixIndex.prototype.has;
    TwinPrefixIndex.prototype.has = function (key: number) {
      lookups++;
      return has.call(this, key);
    };
    try {
      core.rank(p, t, request(16_000, sys));
    } finally {
      TwinPrefixIndex.prototype.has = has;
    }
    const blocks = 64_000 / 64;
    assert.ok(lookups <= 64 * (2 * Math.ceil(Math.log2(blocks)) + 2), `${lookups} lookups for ${blocks} blocks`);
  });
});
