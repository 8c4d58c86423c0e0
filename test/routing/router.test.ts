import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, describe, it } from 'node:test';
import { createManualClock, GatewayError } from '../../src/core/index.js';
import { createRouter } from '../../src/routing/index.js';
import type { BackendTarget } from '../../src/routing/types.js';
import { pool, request, targets } from './helpers.js';

async function healthServer(status: () => number): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    res.statusCode = req.url === '/health' ? status() : 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  return { url: `http://127.0.0.1:${addr.port}`, server };
}

async function eventually(fn: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('router', () => {
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) s.close();
  });

  it('plans, tracks and frees an attempt, and ejects a backend that refuses connections', () => {
    const clock = createManualClock();
    const router = createRouter({ clock, probeIntervalMs: 0, scrapeIntervalMs: 0 });
    const t = targets(2);
    const p = pool('least_requests', t);
    router.setPools([p]);
    const req = request(100);
    const order = router.plan(p, req) as BackendTarget[];
    assert.equal(order.length, 2);
    const tr = router.begin(order[0]!, req);
    tr.end({ ok: false, failure: 'connect' });
    assert.equal(router.isHealthy(order[0]!.id), false);
    const next = router.plan(p, request(100)) as BackendTarget[];
    assert.deepEqual(
      next.map((x) => x.id),
      [order[1]!.id],
      'the ejected backend is left out',
    );
    clock.advance(1000);
    assert.equal(router.isHealthy(order[0]!.id), true, 'half-open after the backoff');
    router.close();
  });

  it('still tries passively ejected backends when every one is ejected', () => {
    const router = createRouter({ clock: createManualClock(), probeIntervalMs: 0, scrapeIntervalMs: 0, ejectAfter: 1 });
    const t = targets(2);
    const p = pool('round_robin', t);
    router.setPools([p]);
    for (const target of t) router.begin(target, request(10)).end({ ok: false, failure: 'status_5xx' });
    assert.equal(router.isHealthy(t[0]!.id), false);
    assert.equal((router.plan(p, request(10)) as BackendTarget[]).length, 2);
    router.close();
  });

  it('never tries backends that refused connections while they are ejected; Retry-After says when the first returns', () => {
    const clock = createManualClock();
    const router = createRouter({ clock, probeIntervalMs: 0, scrapeIntervalMs: 0, ejectAfter: 1, baseEjectMs: 4000 });
    const t = targets(2);
    const p = pool('round_robin', t);
    router.setPools([p]);
    router.begin(t[0]!, request(10)).end({ ok: false, failure: 'status_5xx' });
    router.begin(t[1]!, request(10)).end({ ok: false, failure: 'connect' });
    assert.deepEqual((router.plan(p, request(10)) as BackendTarget[]).map((x) => x.id), [t[0]!.id], 'the one that answered 5xx is tried');
    clock.advance(1500);
    router.begin(t[0]!, request(10)).end({ ok: false, failure: 'connect' });
    assert.throws(
      () => router.plan(p, request(10)),
      (e: unknown) => e instanceof GatewayError && e.code === 'no_healthy_backend' && e.headers?.['retry-after'] === '3',
    );
    clock.advance(2500);
    assert.deepEqual((router.plan(p, request(10)) as BackendTarget[]).map((x) => x.id), [t[1]!.id], 'back on trial when its ejection ran out');
    router.close();
  });

  it('answers 503 with Retry-After when every backend fails its /health probes, and recovers', async () => {
    let status = 503;
    const { url, server } = await healthServer(() => status);
    servers.push(server);
    const target: BackendTarget = { id: url, url, kind: 'vllm', weight: 1, model: 'm' };
    const router = createRouter({ probeIntervalMs: 20, scrapeIntervalMs: 0, unhealthyThreshold: 2, healthyThreshold: 2 });
    const p = pool('token_aware', [target]);
    router.setPools([p]);
    await eventually(() => !router.isHealthy(url));
    assert.throws(
      () => router.plan(p, request(10)),
      (e: unknown) => e instanceof GatewayError && e.status === 503 && e.headers?.['retry-after'] !== undefined,
    );
    status = 200;
    await eventually(() => router.isHealthy(url));
    assert.ok(Array.isArray(router.plan(p, request(10))));
    router.close();
  });

  it('keeps a backend’s state across a config swap and forgets removed ones', () => {
    const router = createRouter({ clock: createManualClock(), probeIntervalMs: 0, scrapeIntervalMs: 0 });
    const t = targets(2);
    router.setPools([pool('round_robin', t)]);
    router.begin(t[0]!, request(10)).end({ ok: false, failure: 'connect' });
    router.setPools([pool('least_requests', t)]);
    assert.equal(router.isHealthy(t[0]!.id), false, 'health survived the swap');
    router.setPools([pool('least_requests', [t[1]!])]);
    assert.equal(router.isHealthy(t[0]!.id), true, 'a removed backend starts fresh if it comes back');
    router.close();
  });

  it('rejects a queued plan when the caller aborts', async () => {
    const router = createRouter({ clock: createManualClock(), probeIntervalMs: 0, scrapeIntervalMs: 0 });
    const t = targets(1);
    const p = pool('token_aware', t);
    router.setPools([p]);
    for (let i = 0; i < 3; i++) {
      const fill = request(8192, `fill${i}`);
      router.plan(pool('round_robin', t), fill);
      router.begin(t[0]!, fill);
    }
    const ac = new AbortController();
    const planned = router.plan(p, request(100), ac.signal);
    assert.ok(planned instanceof Promise, 'queued behind a saturated backend');
    ac.abort(new Error('client gone'));
    await assert.rejects(planned as Promise<BackendTarget[]>, /client gone/);
    router.close();
  });
  it('never hands a queued request a backend that was ejected while it waited', async () => {
    const router = createRouter({ clock: createManualClock(), probeIntervalMs: 0, scrapeIntervalMs: 0 });
    const t = targets(2);
    const p = pool('token_aware', t);
    router.setPools([p]);
    const fills = t.map((target, i) => {
      const fill = request(20_000, `fill${i}`);
      router.plan(pool('round_robin', [target]), fill);
      return router.begin(target, fill);
    });
    const planned = router.plan(p, request(100, 'waiting'));
    assert.ok(planned instanceof Promise, 'queued behind two saturated backends');
    // The first backend crashes: its request fails (refused), which ejects it and frees its capacity.
    fills[0]!.end({ ok: false, failure: 'connect' });
    assert.equal(router.isHealthy(t[0]!.id), false);
    const order = await Promise.race([planned, new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), 50))]);
    if (order !== 'waiting') assert.ok(order.every((x) => router.isHealthy(x.id)), `dispatched to ${order.map((x) => x.id)}`);
    // The second backend's request ends: now it can take the waiting one.
    fills[1]!.end({ ok: true });
    const after = await planned;
    assert.deepEqual(after.map((x) => x.id), [t[1]!.id]);
    router.close();
  });

  it('logs the end of an ejection that failures extended meanwhile, once', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = { info: (o: object) => void lines.push(o as Record<string, unknown>), warn: (o: object) => void lines.push(o as Record<string, unknown>) };
    const router = createRouter({ probeIntervalMs: 0, scrapeIntervalMs: 0, baseEjectMs: 40, maxEjectMs: 1000, logger });
    const t = targets(1);
    router.setPools([pool('round_robin', t)]);
    router.begin(t[0]!, request(10)).end({ ok: false, failure: 'connect' });
    await new Promise((r) => setTimeout(r, 20));
    // Sent anyway (every backend is out) and refused again: the ejection now lasts longer than the first timer.
    router.begin(t[0]!, request(10)).end({ ok: false, failure: 'connect' });
    await eventually(() => lines.some((l) => l['to'] === 'half_open'));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      lines.map((l) => `${l['from']}→${l['to']}`),
      ['healthy→ejected', 'ejected→half_open'],
    );
    router.close();
  });
});
