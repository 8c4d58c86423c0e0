import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startGateway, type Gateway } from '../../src/server/index.js';
import type { Logger } from '../../src/server/logger.js';
import type { SimServer } from '../../src/sim/index.js';
import { createTelemetry } from '../../src/telemetry/index.js';
import { assertMatchesSpec, client, configYaml, eventually, readSse, startSims, startTestGateway, type ModelSpec } from '../helpers/harness.js';

const CHAT = '/v1/chat/completions';

function chatCount(sim: SimServer): number {
  return sim.log.entries.filter((e) => e.path === CHAT).length;
}

function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

async function metrics(gw: Gateway): Promise<string> {
  return (await gw.telemetry.renderMetrics()).body;
}

async function healthy(gw: Gateway, sim: SimServer): Promise<boolean> {
  return metricValue(await metrics(gw), 'infergate_backend_healthy', { backend: sim.url }) === 1;
}

async function ask(gw: Gateway, model: string, content: string, extra: Record<string, unknown> = {}) {
  return client(gw).chat.completions.create({ model, messages: [{ role: 'user', content }], max_tokens: 1, ...extra } as never) as Promise<OpenAI.ChatCompletion>;
}

/** Runs `total` calls of `fn`, `concurrency` at a time. */
async function pool(total: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await fn(next++);
    }),
  );
}

/** A prompt long enough to fill several 16-token KV blocks, so a repeat is a prefix-cache hit. */
const LONG_PROMPT = Array.from({ length: 120 }, (_, i) => `word${i}`).join(' ');

describe('routing through the real gateway', () => {
  let sims: SimServer[];

  before(async () => {
    sims = await startSims(3);
  });
  after(async () => {
    await Promise.all(sims.map((s) => s.close()));
  });

  test('splits traffic 3:1 between backends weighted 3 and 1', async () => {
    const [a, b] = sims as [SimServer, SimServer];
    for (const s of sims) s.log.clear();
    const gw = await startTestGateway([{ name: 'canary', policy: 'weighted', backends: [{ url: a.url, model: 'sim-llama-8b', weight: 3 }, { url: b.url, model: 'sim-llama-8b', weight: 1 }] }]);
    try {
      const total = 400;
      await pool(total, 8, async (i) => {
        const r = await ask(gw, 'canary', `split ${i}`);
        assert.ok(r.choices[0]);
      });
      const onA = chatCount(a);
      const onB = chatCount(b);
      assert.equal(onA + onB, total, 'no request was retried or lost');
      // Smooth weighted round-robin is exact for sequential picks; concurrency only reorders them.
      assert.ok(Math.abs(onA / total - 0.75) <= 0.03, `backend weighted 3 got ${onA} of ${total}`);
    } finally {
      await gw.close(100);
    }
  });

  test('ejects a backend whose /health answers 503 and brings it back when it recovers', async () => {
    const [a, b] = sims as [SimServer, SimServer];
    const gw = await startTestGateway([{ name: 'pair', policy: 'round_robin', backends: [a, b].map((s) => ({ url: s.url, model: 'sim-llama-8b' })) }], {
      sections: { routing: { health: { probe_interval: '20ms', probe_timeout: '500ms', unhealthy_after: 2, healthy_after: 2 } } },
    });
    try {
      await eventually(() => healthy(gw, a));
      a.setFault({ refuse: true });
      await eventually(async () => !(await healthy(gw, a)));
      for (const s of sims) s.log.clear();
      for (let i = 0; i < 10; i++) await ask(gw, 'pair', `ejected ${i}`);
      // The sick backend still answers chat (only its /health fails), so any request sent to it would show here.
      assert.equal(chatCount(a), 0, 'no request reaches the backend whose /health fails');
      assert.equal(chatCount(b), 10);

      a.setFault(null);
      await eventually(() => healthy(gw, a));
      for (const s of sims) s.log.clear();
      for (let i = 0; i < 10; i++) await ask(gw, 'pair', `back ${i}`);
      assert.equal(chatCount(a), 5, 'round robin includes the recovered backend again');
      assert.equal(chatCount(b), 5);
    } finally {
      a.setFault(null);
      await gw.close(100);
    }
  });

  test('answers 503 with Retry-After in the OpenAI envelope when no backend is healthy', async () => {
    const [a, b] = sims as [SimServer, SimServer];
    const gw = await startTestGateway([{ name: 'pair', backends: [a, b].map((s) => ({ url: s.url, model: 'sim-llama-8b' })) }], {
      sections: { routing: { health: { probe_interval: '20ms', unhealthy_after: 1, healthy_after: 1 } } },
    });
    try {
      a.setFault({ refuse: true });
      b.setFault({ refuse: true });
      await eventually(async () => !(await healthy(gw, a)) && !(await healthy(gw, b)));
      const res = await fetch(`${gw.url}${CHAT}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'pair', messages: [{ role: 'user', content: 'anyone?' }] }),
      });
      assert.equal(res.status, 503);
      assert.ok(Number(res.headers.get('retry-after')) >= 1, `retry-after: ${res.headers.get('retry-after')}`);
      const body = (await res.json()) as { error: { code: string; type: string; message: string } };
      assertMatchesSpec('ErrorResponse', body);
      assert.equal(body.error.code, 'no_healthy_backend');
      assert.match(body.error.message, /pair/);
      const sdkErr = await ask(gw, 'pair', 'sdk').catch((e: unknown) => e);
      assert.ok(sdkErr instanceof OpenAI.InternalServerError && sdkErr.status === 503);
      assert.ok(![a, b].some((s) => s.log.entries.some((e) => e.rawBody.includes('anyone?'))), 'nothing was sent to a backend');

      a.setFault(null);
      await eventually(() => healthy(gw, a));
      assert.ok((await ask(gw, 'pair', 'recovered')).choices[0]);
    } finally {
      a.setFault(null);
      b.setFault(null);
      await gw.close(100);
    }
  });
});

describe('a backend restart', () => {
  let vllm: SimServer;
  let gw: Gateway;

  before(async () => {
    // Real time (timeScale 1), so a long generation is still running when the restart comes.
    [vllm] = (await startSims(1, { engine: 'vllm', timeScale: 1 })) as [SimServer];
    gw = await startTestGateway([{ name: 'llama', backends: [{ url: vllm.url, model: 'sim-llama-8b' }] }]);
  });
  after(async () => {
    await gw.close(100);
    await vllm.close();
  });

  test('ends in-flight streams with an SSE error event, serves new requests, and starts with a cold cache', async () => {
    const cached = async (tag: string) => {
      const r = await ask(gw, 'llama', LONG_PROMPT, { user: tag });
      return (r.usage as { prompt_tokens_details?: { cached_tokens?: number } } | undefined)?.prompt_tokens_details?.cached_tokens ?? -1;
    };
    await cached('warm');
    assert.ok((await cached('warm')) > 0, 'a repeated prompt hits the prefix cache before the restart');

    const res = await fetch(`${gw.url}${CHAT}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'a long answer' }], stream: true, max_tokens: 4000, ignore_eos: true }),
    });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.ok(!first.done && first.value.length > 0, 'the stream started');
    vllm.restart();
    let rest = '';
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += decoder.decode(value, { stream: true });
    }
    const events = await readSse(new Response(decoder.decode(first.value) + rest));
    assert.notEqual(events.at(-1), '[DONE]', 'the stream does not pretend to have finished');
    const last = JSON.parse(events.at(-1)!) as { error: { code: string } };
    assertMatchesSpec('ErrorResponse', last);
    assert.equal(last.error.code, 'upstream_error');

    assert.ok((await ask(gw, 'llama', 'after the restart')).choices[0]?.message.content !== undefined);
    assert.equal(await cached('cold'), 0, 'the restart flushed the prefix cache');
    assert.ok((await cached('cold')) > 0, 'and the cache fills again');
  });
});

describe('the fleet-wide retry budget', () => {
  let sims: SimServer[];
  let dir: string;
  let file: string;
  let gw: Gateway;
  const warnings: Array<{ event?: string; sections?: string[] }> = [];
  const logger: Logger = { info() {}, error() {}, warn: (obj) => void warnings.push(obj as (typeof warnings)[number]) };
  const models: ModelSpec[] = [];

  const write = (routing: Record<string, unknown>) => writeFile(file, configYaml(models, {}, { routing }));

  before(async () => {
    sims = await startSims(3);
    models.push({ name: 'fleet', policy: 'round_robin', retries: 2, backends: sims.map((s) => ({ url: s.url, model: 'sim-llama-8b' })) });
    dir = await mkdtemp(join(tmpdir(), 'infergate-budget-'));
    file = join(dir, 'infergate.yaml');
    // A high eject_after keeps every backend a candidate, so only the budget decides how many attempts happen.
    await write({ health: { eject_after: 1000 }, retry_budget: { ratio: 0.25, min_per_second: 0, window: '5m' } });
    gw = await startGateway({
      configFile: file,
      watch: false,
      logger,
      telemetry: createTelemetry({ tracing: false, log: { level: 'silent' }, processMetrics: false }),
      listen: { host: '127.0.0.1', port: 0 },
    });
  });
  after(async () => {
    await gw.close(100);
    await Promise.all(sims.map((s) => s.close()));
    await rm(dir, { recursive: true, force: true });
  });

  test('stops retrying once the budget is spent when the whole fleet fails, answering with the last failure', async () => {
    for (const s of sims) {
      s.log.clear();
      s.setFault({ status: 503, message: 'overloaded' });
    }
    try {
      const n = 40;
      for (let i = 0; i < n; i++) {
        const err = await ask(gw, 'fleet', `storm ${i}`).catch((e: unknown) => e);
        assert.ok(err instanceof OpenAI.APIError && err.status === 503, `request ${i}: ${String(err)}`);
        assert.match(err.message, /overloaded/);
      }
      const attempts = sims.reduce((sum, s) => sum + chatCount(s), 0);
      // Without a budget: 3 attempts each (120). With ratio 0.25 and no floor: one retry per 4 requests.
      assert.equal(attempts, n + n / 4);
      const m = await metrics(gw);
      assert.equal(metricValue(m, 'infergate_retries_total', { model: 'fleet' }), n / 4);
      // Each request asked for a retry the budget refused (those with one retry were refused the second).
      assert.equal(metricValue(m, 'infergate_retries_denied_total', { model: 'fleet' }), n);
      assert.equal(metricValue(m, 'infergate_retry_budget_available'), 0);
    } finally {
      for (const s of sims) s.setFault(null);
    }
  });

  test('counts a fallback model tried after a failed attempt as a retry', async () => {
    const [down, up] = sims as [SimServer, SimServer];
    const fb = await startTestGateway(
      [
        { name: 'primary', retries: 0, fallback: ['secondary'], backends: [{ url: down.url, model: 'sim-llama-8b' }] },
        { name: 'secondary', backends: [{ url: up.url, model: 'sim-llama-8b' }] },
      ],
      { sections: { routing: { retry_budget: { ratio: 0.5, min_per_second: 0 } } } },
    );
    down.setFault({ status: 503, message: 'primary down' });
    for (const s of sims) s.log.clear();
    try {
      const results = [];
      for (let i = 0; i < 4; i++) results.push(await ask(fb, 'primary', `fb ${i}`).then(() => 'served', (e: unknown) => (e as { status?: number }).status));
      // Request 1 has earned half a retry: refused. Request 2 brings the budget to one: it falls back. And so on.
      assert.deepEqual(results, [503, 'served', 503, 'served']);
      assert.equal(chatCount(up), 2);
      const m = await metrics(fb);
      assert.equal(metricValue(m, 'infergate_fallbacks_total', { from_model: 'primary', to_model: 'secondary' }), 2);
      assert.equal(metricValue(m, 'infergate_retries_denied_total', { model: 'primary' }), 2);
    } finally {
      down.setFault(null);
      await fb.close(100);
    }
  });

  test('applies a new retry budget on reload and says that other routing changes need a restart', async () => {
    await write({ health: { eject_after: 1000, probe_interval: '1s' }, retry_budget: { ratio: 1, min_per_second: 100 } });
    assert.equal(await gw.reload(), true);
    assert.deepEqual(warnings.find((w) => w.event === 'routing_change_needs_restart')?.sections, ['routing.health']);

    for (const s of sims) {
      s.log.clear();
      s.setFault({ status: 503 });
    }
    try {
      for (let i = 0; i < 5; i++) await ask(gw, 'fleet', `generous ${i}`).catch(() => null);
      assert.equal(
        sims.reduce((sum, s) => sum + chatCount(s), 0),
        15,
        'every request now gets its two retries',
      );
    } finally {
      for (const s of sims) s.setFault(null);
    }
    // With the fleet back, a request succeeds on its first attempt and spends nothing.
    assert.ok((await ask(gw, 'fleet', 'healthy again')).choices[0]);
  });
});
