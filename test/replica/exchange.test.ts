import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from '../../src/core/index.js';
import { RoutingCore } from '../../src/routing/core.js';
import { TwinPrefixIndex } from '../../src/routing/prefix/twin-index.js';
import { ReplicaExchange } from '../../src/routing/replica/exchange.js';
import { createBroadcastHub, createIpcBroadcast } from '../../src/state/index.js';
import { ipcChannel as channel } from '../helpers/ipc-channel.js';
import { pool, request, targets } from '../routing/helpers.js';

/**
 * The exchange's mechanics without Redis: the supervisor's hub relaying between two workers' IPC broadcasts (the real
 * code on both ends; an in-memory channel stands in for the cluster's pipe, delivering asynchronously like it).
 */

const tick = () => new Promise((r) => setImmediate(r));
const settle = async () => {
  for (let i = 0; i < 4; i++) await tick();
};

function host(hub: ReturnType<typeof createBroadcastHub>, clock: ReturnType<typeof createManualClock>) {
  const ch = channel();
  hub.attach(ch.supervisor);
  const exchange = new ReplicaExchange({ broadcast: createIpcBroadcast(ch.worker), intervalMs: 50, staleMs: 500, snapshotMs: 5000, clock });
  const core = new RoutingCore({ clock, replica: exchange });
  const t = targets(3);
  for (const x of t) core.state(x);
  return { exchange, core, t };
}

describe('replica exchange', () => {
  test('the twin takes peers\' keys as most recent and lists every key, negative ones included', () => {
    const twin = new TwinPrefixIndex(4);
    twin.pin([-5, 7]);
    twin.unpin([-5, 7], 0);
    twin.touch([-9, 11]);
    assert.deepEqual(twin.keys().sort(), [-9, -5, 11, 7].sort());
    twin.touch([12]); // capacity 4: the least recently used key (7, released last-first) goes, like a local one
    assert.equal(twin.has(7), false);
    assert.equal(twin.matchLength([-5, -9, 11, 12]), 4);
  });

  test('keys, load and turns routed by one worker reach the other through the supervisor', async () => {
    const clock = createManualClock();
    const hub = createBroadcastHub();
    const a = host(hub, clock);
    const b = host(hub, clock);
    const p = pool('token_aware', a.t);
    const req = request(2000, 'shared system prompt '.repeat(40), 'sess-1');
    const order = a.core.plan(p, a.t, req, { resolve() {}, reject() {} });
    assert.ok(Array.isArray(order));
    const chosen = order[0]!;
    const tracker = a.core.begin(chosen, req);
    a.exchange.flush();
    await settle();
    const onB = b.core.stateById(chosen.id)!;
    assert.equal(onB.inFlight, 1, 'B sees A\'s request in flight');
    assert.ok(onB.pendingTokens > 0);
    assert.ok(onB.twin().matchLength(charKeysOf(a.core, chosen.id)) > 0);
    tracker.end({ ok: true, completionTokens: 5 });
    clock.advance(60);
    a.exchange.flush();
    await settle();
    assert.equal(onB.inFlight, 0, 'the end of the request reaches B too');
    assert.equal(b.exchange.stats.turnsIn, 1);
    // The same prompt ranks A's backend first on B, where nothing was routed.
    assert.equal(b.core.rank(p, b.t, request(2000, 'shared system prompt '.repeat(40)))[0]!.id, chosen.id);
    await Promise.all([a.exchange.close(), b.exchange.close()]);
  });

  test('a peer that goes silent has its load dropped after the staleness bound', async () => {
    const clock = createManualClock();
    const hub = createBroadcastHub();
    const a = host(hub, clock);
    const b = host(hub, clock);
    const req = request(500);
    a.core.begin(a.t[0]!, req);
    a.exchange.flush();
    await settle();
    assert.equal(b.core.stateById(a.t[0]!.id)!.inFlight, 1);
    clock.advance(400);
    b.exchange.flush();
    assert.equal(b.core.stateById(a.t[0]!.id)!.inFlight, 1, 'within the bound the load stays');
    clock.advance(200);
    b.exchange.flush();
    assert.equal(b.core.stateById(a.t[0]!.id)!.inFlight, 0, 'past the bound it is gone');
    await Promise.all([a.exchange.close(), b.exchange.close()]);
  });

  test('a worker that starts gets a live peer\'s picture through the supervisor', async () => {
    const clock = createManualClock();
    const hub = createBroadcastHub();
    const a = host(hub, clock);
    await a.exchange.start();
    const req = request(2000, 'a long common prefix '.repeat(40));
    const order = a.core.plan(pool('token_aware', a.t), a.t, req, { resolve() {}, reject() {} });
    assert.ok(Array.isArray(order));
    a.core.begin(order[0]!, req).end({ ok: true, completionTokens: 3 });
    const b = host(hub, clock);
    assert.equal(await b.exchange.catchUp(), true);
    assert.ok(b.exchange.stats.snapshotKeys > 0);
    assert.equal(b.core.rank(pool('token_aware', b.t), b.t, request(2000, 'a long common prefix '.repeat(40)))[0]!.id, order[0]!.id);
    await Promise.all([a.exchange.close(), b.exchange.close()]);
  });
});

function charKeysOf(core: RoutingCore, id: string): number[] {
  return core.stateById(id)!.twin().keys();
}
