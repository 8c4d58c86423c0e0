import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { client, closeAll, eventually, startSims, startTestGateway } from '../helpers/harness.js';

/**
 * Issue 13: gateway replicas sharing one real Redis route on the fleet's picture. Each replica is a full in-process
 * gateway (its own router, twin indexes, Redis connections); the backends are four simulators, and which one served a
 * request is read from their request logs. A replica that never saw a prefix picks among four cold-looking backends
 * (token-aware, ties drawn at random), so matching the owner of three prefixes by chance has odds of 1 in 64.
 */
const MODEL = 'm';
const sections = (redis: string, extra: Record<string, unknown> = {}) => ({
  routing: { health: { probe_interval: 0 }, scrape: { interval: 0 } },
  state: { redis, prefix: `t13-${process.pid}:`, routing: { interval: '20ms', stale: '500ms', snapshot_interval: '500ms', ...extra } },
  usage: false,
});

/** A long shared prefix (system prompt, ~50 keys) and a short question after it. */
const prefix = (i: number) => `You are assistant number ${i}. ` + `Rule ${i}: answer precisely and cite the manual. `.repeat(70);

describe('routing state shared by gateway replicas through Redis', () => {
  let redis: TestRedis;
  let sims: SimServer[];
  let a: Gateway;
  let b: Gateway;
  let c: Gateway | undefined;

  before(async () => {
    redis = await startRedis();
    sims = await startSims(4);
    const models = [{ name: MODEL, policy: 'token_aware', backends: sims.map((s) => ({ url: s.url, kind: 'vllm', model: 'sim-llama-8b' })), retries: 0 }];
    a = await startTestGateway(models, { sections: sections(redis.url) });
    b = await startTestGateway(models, { sections: sections(redis.url) });
  });
  after(async () => {
    await closeAll(a, b, c);
    await Promise.all(sims.map((s) => s.close()));
    await redis?.close();
  });

  /** Sends one chat request and answers the index of the simulator that served it. */
  async function served(gw: Gateway, content: string, user?: string): Promise<{ backend: number; answer: string }> {
    // Chat requests only: health probes and metric scrapes are logged too, and one landing on another simulator during
    // the request was taken for the request (a flaky "went to backend 2").
    const chats = (s: SimServer) => s.log.entries.filter((e) => e.path === '/v1/chat/completions').length;
    const before = sims.map(chats);
    const r = await client(gw).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content }], max_tokens: 8, ...(user ? { user } : {}) });
    const hit = sims.findIndex((s, i) => chats(s) > (before[i] as number));
    assert.ok(hit >= 0, 'no simulator saw the request');
    return { backend: hit, answer: r.choices[0]?.message.content ?? '' };
  }

  async function metric(gw: Gateway, name: string): Promise<number> {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.slice(name.length + 1)) : 0;
  }

  test('a prefix routed by replica A is matched by replica B', async () => {
    const owners: number[] = [];
    for (let i = 0; i < 3; i++) owners.push((await served(a, `${prefix(i)} First question.`)).backend);
    await eventually(async () => (await metric(b, 'infergate_routing_exchange_keys_received_total')) >= 3 * 50, 5000);
    for (let i = 0; i < 3; i++) {
      const { backend } = await served(b, `${prefix(i)} A different question from another user.`);
      assert.equal(backend, owners[i], `prefix ${i} went to backend ${backend}, replica A had sent it to ${owners[i]}`);
    }
  });

  test('a session continues on the same backend through another replica', async () => {
    const first = `${prefix(7)} Let us start a conversation.`;
    const t1 = await served(a, first, 'session-42');
    await eventually(async () => (await metric(b, 'infergate_routing_exchange_turns_received_total')) >= 1, 5000);
    // The next turn resends the whole conversation, as chat clients do, through the other replica.
    const t2 = await served(b, `${first}\n${t1.answer}\nAnd the follow-up question?`, 'session-42');
    assert.equal(t2.backend, t1.backend);
    const t3 = await served(a, `${first}\n${t1.answer}\nAnd the follow-up question?\n${t2.answer}\nOne more.`, 'session-42');
    assert.equal(t3.backend, t1.backend);
  });

  test('a replica that starts after the traffic catches up from the shared snapshot', async () => {
    const owners: number[] = [];
    for (let i = 10; i < 13; i++) owners.push((await served(a, `${prefix(i)} Before the restart.`)).backend);
    // A snapshot period passes (one replica writes the fleet's picture), then a new replica starts: it never saw
    // the live batches above, only what the snapshot holds.
    await new Promise((r) => setTimeout(r, 1200));
    const models = [{ name: MODEL, policy: 'token_aware', backends: sims.map((s) => ({ url: s.url, kind: 'vllm', model: 'sim-llama-8b' })), retries: 0 }];
    c = await startTestGateway(models, { sections: sections(redis.url) });
    assert.equal(await metric(c, 'infergate_routing_exchange_snapshot_loaded'), 1);
    for (let i = 10; i < 13; i++) {
      const { backend } = await served(c, `${prefix(i)} After the restart.`);
      assert.equal(backend, owners[i - 10]);
    }
  });
});
