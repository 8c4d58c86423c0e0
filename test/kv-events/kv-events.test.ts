import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/server/index.js';
import { startSim, tokenize, type SimServer } from '../../src/sim/index.js';
import { tokenizerFor } from '../../src/routing/kv-events/token-keys.js';
import { client, closeAll, eventually, startTestGateway } from '../helpers/harness.js';

/** Completion requests a simulator served: its log also holds health probes and metric scrapes, which land any time. */
const completions = (s: SimServer) => s.log.entries.filter((e) => e.path === '/v1/completions').length;

/**
 * Issue 13: vLLM-style KV events (ZeroMQ PUB + replay ROUTER, msgpack KVEventBatch) published by the simulator's vLLM
 * engine are every gateway replica's picture of the backends' prefix caches, whoever sent the traffic. Two in-process
 * gateways (replicas without any shared state between them) in front of two simulators; which simulator served a
 * request is read from its request log. Without the events, a replica that never saw a prefix picks one of two
 * cold-looking backends: matching the warm one six times by chance has odds of 1 in 64.
 */
const MODEL = 'm';
const SIM_OPTS = { engine: 'vllm' as const, timeScale: 0.05, kvBlocks: 4000, log: true };

/** A prompt of `words` one-token words, unique per seed. */
function prompt(seed: number, words = 400): string {
  let s = '';
  let x = seed * 7919 + 17;
  for (let i = 0; i < words; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    s += ' ' + 'etaoinshrdlu'[x % 12] + 'cmfwyp'[(x >> 8) % 6];
  }
  return s;
}

function models(sims: SimServer[], kv: Record<string, unknown> = {}) {
  return [
    {
      name: MODEL,
      policy: 'token_aware',
      retries: 0,
      backends: sims.map((s) => ({ url: s.url, kind: 'vllm', model: 'sim-llama-8b', kv_events: { endpoint: s.kvEvents!.endpoint, replay_endpoint: s.kvEvents!.replayEndpoint ?? undefined, tokenizer: 'simulator', stale: '2s', ...kv } })),
    },
  ] as never;
}

const sections = { routing: { health: { probe_interval: 0 }, scrape: { interval: 0 } }, usage: false };

async function metrics(gw: Gateway): Promise<string> {
  return (await fetch(`${gw.url}/metrics`)).text();
}

function sample(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((p) => l.includes(p)));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : Number.NaN;
}

/** Sends the prompt straight to the engine (not through any gateway), as another client of the engine would. */
async function direct(sim: SimServer, text: string): Promise<void> {
  const r = await fetch(`${sim.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'sim-llama-8b', prompt: text, max_tokens: 2 }) });
  assert.equal(r.status, 200);
  await r.text();
}

describe('KV events from the simulator are every replica\'s picture', () => {
  let sims: SimServer[];
  let a: Gateway;
  let b: Gateway;
  let late: Gateway | undefined;

  before(async () => {
    sims = await Promise.all([startSim({ ...SIM_OPTS, kvEvents: {} }), startSim({ ...SIM_OPTS, kvEvents: {} })]);
    a = await startTestGateway(models(sims), { sections });
    b = await startTestGateway(models(sims), { sections });
  });
  after(async () => {
    await closeAll(a, b, late);
    await Promise.all(sims.map((s) => s.close()));
  });

  test('the gateway splits prompts into the same token ids as the simulator (tokenizer: simulator)', () => {
    const t = tokenizerFor('simulator');
    for (const text of [prompt(1, 50), 'Hello, world! 12345 abcdefghij <|user|>\n  x', '']) assert.deepEqual(Array.from(t(text)), tokenize(text));
  });

  test('prefixes sent to an engine directly are matched by every replica', async () => {
    const served: [number, number][] = [];
    for (let i = 0; i < 3; i++) {
      const warm = i % 2;
      const p = prompt(100 + i);
      await direct(sims[warm] as SimServer, p);
      for (const [k, gw] of [a, b].entries()) {
        const before = sims.map(completions);
        const r = await client(gw).completions.create({ model: MODEL, prompt: p + prompt(200 + i * 2 + k, 20), max_tokens: 2 });
        const hit = sims.findIndex((s, j) => completions(s) > (before[j] as number));
        served.push([warm, hit]);
        const cached = (r.usage as { prompt_tokens_details?: { cached_tokens?: number } } | undefined)?.prompt_tokens_details?.cached_tokens ?? 0;
        assert.ok(cached >= 384, `the engine reports the 400-token prefix as cached (${cached})`);
      }
    }
    assert.deepEqual(served.map(([, h]) => h), served.map(([w]) => w), `each request goes where the engine holds its prefix: ${JSON.stringify(served)}`);
    for (const gw of [a, b]) {
      const m = await metrics(gw);
      for (const s of sims) {
        assert.equal(sample(m as string, 'infergate_kv_events_state', `backend="${s.url}",state="live"`), 1);
        assert.ok(sample(m as string, 'infergate_kv_events_blocks', `backend="${s.url}"`) > 0);
      }
    }
  });

  test('a replica started mid-run catches up from the engines\' replay buffers, not blind', async () => {
    const p = prompt(300);
    await direct(sims[1] as SimServer, p);
    late = await startTestGateway(models(sims), { sections });
    const gw = late;
    await eventually(async () => sample(await metrics(gw), 'infergate_kv_events_state', `backend="${(sims[1] as SimServer).url}",state="live"`) === 1, 5000);
    const m = await metrics(gw);
    assert.ok(sample(m as string, 'infergate_kv_events_blocks', `backend="${(sims[1] as SimServer).url}"`) >= 25, 'the replayed history holds the prompt\'s blocks');
    const before = sims.map(completions);
    await client(gw).completions.create({ model: MODEL, prompt: p + prompt(301, 20), max_tokens: 2 });
    assert.ok(completions(sims[1] as SimServer) > (before[1] as number), 'routed to the engine that holds the prefix');
  });
});

describe('when the events cannot be the truth, routing falls back to its own picture and says so', () => {
  let sims: SimServer[] = [];
  let gw: Gateway | undefined;
  after(async () => {
    await closeAll(gw);
    await Promise.all(sims.map((s) => s.close()));
  });

  test('history the engine no longer has for replay: resync (twin) until the cache turned over', async () => {
    sims = [await startSim({ ...SIM_OPTS, kvEvents: { replayEndpoint: null } })];
    await direct(sims[0] as SimServer, prompt(400));
    gw = await startTestGateway(models(sims), { sections });
    await direct(sims[0] as SimServer, prompt(401));
    const m = await eventually(async () => {
      const text = await metrics(gw as Gateway);
      return sample(text, 'infergate_kv_events_state', 'state="resync"') === 1 ? text : null;
    }, 5000);
    assert.equal(sample(m as string, 'infergate_kv_events_state', 'state="live"'), 0);
    // Requests still route and succeed on the twin.
    const r = await client(gw).completions.create({ model: MODEL, prompt: prompt(402), max_tokens: 2 });
    assert.ok(r.choices.length === 1);
    // An engine restart empties its cache (AllBlocksCleared): the picture is complete again.
    (sims[0] as SimServer).restart();
    await eventually(async () => sample(await metrics(gw as Gateway), 'infergate_kv_events_state', 'state="live"') === 1, 5000);
  });

  test('a publisher that goes away: silent (twin) once it has been unreachable for kv_events.stale', async () => {
    const sim = await startSim({ ...SIM_OPTS, kvEvents: {} });
    const one = await startTestGateway(models([sim], { stale: '300ms' }), { sections });
    try {
      await client(one).completions.create({ model: MODEL, prompt: prompt(450), max_tokens: 2 });
      await eventually(async () => sample(await metrics(one), 'infergate_kv_events_state', 'state="live"') === 1, 5000);
      await sim.close();
      await eventually(async () => sample(await metrics(one), 'infergate_kv_events_state', 'state="silent"') === 1, 5000);
    } finally {
      await closeAll(one);
    }
  });

  test('a tokenizer that is not the engine\'s: the routed prompts never show up, mismatch (twin)', async () => {
    await closeAll(gw);
    gw = await startTestGateway(models(sims, { tokenizer: 'cl100k_base', stale: '200ms' }), { sections });
    for (let i = 0; i < 10; i++) await client(gw).completions.create({ model: MODEL, prompt: prompt(500 + i, 100), max_tokens: 2 });
    const m = await eventually(async () => {
      const text = await metrics(gw as Gateway);
      return sample(text, 'infergate_kv_events_state', 'state="mismatch"') === 1 ? text : null;
    }, 5000);
    assert.ok(sample(m as string, 'infergate_kv_events_probe_misses_total', '') >= 8);
  });
});
