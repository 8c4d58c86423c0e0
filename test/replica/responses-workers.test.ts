import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseStore } from '../../src/api/index.js';
import { createBroadcastHub, createIpcBroadcast } from '../../src/state/index.js';
import { ipcChannel as channel } from '../helpers/ipc-channel.js';

/**
 * Stored Responses ids among the workers of one host: each worker's store talks through its own IPC broadcast topic,
 * relayed by the supervisor's hub (the real code on both ends; an in-memory channel stands in for the cluster's pipe).
 */

function worker(hub: ReturnType<typeof createBroadcastHub>) {
  const ch = channel();
  hub.attach(ch.supervisor);
  const routing = createIpcBroadcast(ch.worker);
  const routed: string[] = [];
  routing.onMessage((p) => routed.push(p));
  const store = new ResponseStore();
  store.share(createIpcBroadcast(ch.worker, 'responses'));
  return { store, routing, routed };
}

describe('stored Responses ids among the workers of a host', () => {
  test('an id stored on one worker is found on the other, for its creator only, even when looked up at once', async () => {
    const hub = createBroadcastHub();
    const a = worker(hub);
    const b = worker(hub);
    a.store.remember('resp_1', { backendId: 'm/0', model: 'm', subject: 'alice' });
    // Looked up before the relay delivered it: the lookup waits for the peer's entry instead of missing.
    assert.deepEqual(await b.store.find('resp_1', 'alice'), { backendId: 'm/0', model: 'm', subject: 'alice' });
    assert.equal(await b.store.find('resp_1', 'mallory'), null);
    assert.equal(await b.store.find('resp_unknown', 'alice'), null);
  });

  test('the responses topic and the routing exchange never see each other\'s messages', async () => {
    const hub = createBroadcastHub();
    const a = worker(hub);
    const b = worker(hub);
    a.store.remember('resp_2', { backendId: 'm/1', model: 'm', subject: 'alice' });
    a.routing.publish('routing-batch');
    await b.store.find('resp_2', 'alice');
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(b.routed, ['routing-batch']);
  });

  test('a malformed message on the topic is ignored', async () => {
    const hub = createBroadcastHub();
    const ch = channel();
    hub.attach(ch.supervisor);
    const raw = createIpcBroadcast(ch.worker, 'responses');
    const b = worker(hub);
    raw.publish('{not json');
    raw.publish(JSON.stringify({ id: 'resp_3', backendId: 7 }));
    raw.publish(JSON.stringify({ id: 'resp_4', backendId: 'm/0', model: 'm', subject: 'alice' }));
    assert.equal(await b.store.find('resp_3', 'alice'), null);
    assert.ok(await b.store.find('resp_4', 'alice'));
  });
});
