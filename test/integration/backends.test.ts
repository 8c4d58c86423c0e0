/**
 * Backends as users actually write them (issue 10): base URLs ending in /v1, engines without /metrics, health
 * transitions an operator can read, per-backend series on /metrics, and the default policy in front of the quick
 * start's identical simulated backends.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { Gateway } from '../../src/server/index.js';
import type { Logger } from '../../src/server/logger.js';
import { startSim, type SimServer } from '../../src/sim/index.js';
import { client, eventually, startSims, startTestGateway } from '../helpers/harness.js';

const CHAT = '/v1/chat/completions';

function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | null {
  let found: number | null = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) found = (found ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return found;
}

const metrics = async (gw: Gateway) => (await gw.telemetry.renderMetrics()).body;

interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly obj: Record<string, unknown>;
  readonly msg: string | undefined;
}

function recordingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: LogLine['level']) => (obj: object, msg?: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('backends as users write them', () => {
  let sims: SimServer[];
  before(async () => {
    sims = await startSims(2);
  });
  after(async () => {
    await Promise.all(sims.map((s) => s.close()));
  });

  test('a backend URL ending in /v1 is probed and scraped at the server root and keeps serving', async () => {
    const sim = sims[0]!;
    sim.log.clear();
    const gw = await startTestGateway([{ name: 'v1-base', backends: [{ url: `${sim.url}/v1`, model: 'sim-llama-8b' }] }], {
      sections: { routing: { health: { probe_interval: '20ms', unhealthy_after: 2 }, scrape: { interval: '20ms' } } },
    });
    try {
      const paths = () => sim.log.entries.map((e) => e.path);
      await eventually(() => paths().filter((p) => p === '/health').length >= 3 && paths().includes('/metrics'));
      // Ten probe intervals: on a wrong path, two failed probes would have taken the backend out by now.
      await sleep(200);
      assert.deepEqual(paths().filter((p) => p.startsWith('/v1/') && p !== CHAT), [], 'nothing polled under /v1');
      assert.equal(metricValue(await metrics(gw), 'infergate_backend_healthy', { backend: `${sim.url}/v1` }), 1);
      const r = await client(gw).chat.completions.create({ model: 'v1-base', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
      assert.ok(r.choices[0]);
    } finally {
      await gw.close(100);
    }
  });

  test('a backend without /metrics is scraped rarely, logged once and counted on /metrics', async () => {
    const hits: string[] = [];
    const server: Server = createServer((req, res) => {
      hits.push(req.url ?? '');
      // llama-server started without --metrics answers 501.
      res.writeHead(req.url === '/health' ? 200 : 501, { 'content-type': 'application/json' });
      res.end(req.url === '/health' ? '{"status":"ok"}' : '{"error":{"code":501,"message":"This server does not support metrics endpoint.","type":"not_supported_error"}}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const logger = recordingLogger();
    const gw = await startTestGateway([{ name: 'llama', backends: [{ url, kind: 'llamacpp' }] }], {
      logger,
      sections: { routing: { health: { probe_interval: '50ms' }, scrape: { interval: '10ms' } } },
    });
    try {
      await eventually(() => hits.includes('/metrics'));
      await sleep(1000);
      const scrapes = hits.filter((h) => h === '/metrics').length;
      assert.ok(scrapes <= 8, `a missing /metrics was asked ${scrapes} times in a second (about 100 at the interval)`);
      const text = await metrics(gw);
      assert.equal(metricValue(text, 'infergate_backend_scrape_failures_total', { backend: url, reason: 'missing' }), scrapes);
      assert.match(text, /# TYPE infergate_backend_scrape_failures_total counter/);
      assert.equal(metricValue(text, 'infergate_backend_scrape_age_seconds', { backend: url }), null, 'no age without a successful scrape');
      const missing = logger.lines.filter((l) => l.obj['event'] === 'backend_metrics_missing');
      assert.equal(missing.length, 1);
      assert.deepEqual([missing[0]!.level, missing[0]!.obj['backend'], missing[0]!.obj['model'], missing[0]!.obj['status']], ['warn', url, 'llama', 501]);
      assert.equal(metricValue(text, 'infergate_backend_healthy', { backend: url }), 1, 'a missing /metrics is not a health problem');
    } finally {
      await gw.close(100);
      server.close();
    }
  });

  test('logs each health transition once, with backend, model, from, to and reason', async () => {
    const sim = sims[1]!;
    const logger = recordingLogger();
    const gw = await startTestGateway([{ name: 'solo', retries: 0, backends: [{ url: sim.url, model: 'sim-llama-8b' }] }], {
      logger,
      sections: { routing: { health: { probe_interval: '20ms', unhealthy_after: 2, healthy_after: 1, eject_after: 1, eject_base: '200ms' } } },
    });
    const transitions = () => logger.lines.filter((l) => l.obj['event'] === 'backend_health');
    const ask = () => client(gw).chat.completions.create({ model: 'solo', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    try {
      sim.setFault({ refuse: true });
      await eventually(() => transitions().length === 1);
      sim.setFault(null);
      await eventually(() => transitions().length === 2);
      await ask();
      await eventually(() => transitions().length === 3);

      sim.setFault({ status: 500 });
      await assert.rejects(ask());
      sim.setFault(null);
      await eventually(() => transitions().length === 5, 3000);
      await ask();
      await eventually(() => transitions().length === 6);
      // Probes keep running and more requests succeed: nothing else is logged.
      await ask();
      await sleep(100);

      const lines = transitions();
      assert.deepEqual(
        lines.map((l) => `${l.obj['from']}→${l.obj['to']}`),
        ['healthy→probe_down', 'probe_down→half_open', 'half_open→healthy', 'healthy→ejected', 'ejected→half_open', 'half_open→healthy'],
      );
      for (const l of lines) {
        assert.equal(l.obj['backend'], sim.url);
        assert.equal(l.obj['model'], 'solo');
        assert.equal(typeof l.obj['reason'], 'string');
        assert.equal(l.level, l.obj['to'] === 'probe_down' || l.obj['to'] === 'ejected' ? 'warn' : 'info');
      }
      assert.match(String(lines[0]!.obj['reason']), /2 failed probes.*503/);
      assert.match(String(lines[3]!.obj['reason']), /status_5xx/);
      assert.equal(lines[3]!.obj['ejected_ms'], 200);
      assert.equal(metricValue(await metrics(gw), 'infergate_backend_ejections_total', { backend: sim.url }), 1);
    } finally {
      sim.setFault(null);
      await gw.close(100);
    }
  });

  test('shows per-backend in-flight requests and tokens, queue depth and scrape age on /metrics', async () => {
    const sim = sims[0]!;
    const gw = await startTestGateway([{ name: 'gauges', backends: [{ url: sim.url, model: 'sim-llama-8b' }] }], {
      sections: { routing: { scrape: { interval: '20ms' } } },
    });
    const controller = new AbortController();
    try {
      await eventually(async () => metricValue(await metrics(gw), 'infergate_backend_scrape_age_seconds', { backend: sim.url }) !== null);
      const before = await metrics(gw);
      assert.equal(metricValue(before, 'infergate_backend_in_flight_requests', { backend: sim.url }), 0);
      assert.equal(metricValue(before, 'infergate_queue_depth'), 0);
      assert.ok((metricValue(before, 'infergate_backend_scrape_age_seconds', { backend: sim.url }) as number) < 5);

      sim.setFault({ token_delay_ms: 200 });
      const res = await fetch(`${gw.url}${CHAT}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gauges', messages: [{ role: 'user', content: 'slow' }], max_tokens: 50, stream: true }),
        signal: controller.signal,
      });
      const reader = res.body!.getReader();
      await reader.read();
      const during = await metrics(gw);
      assert.equal(metricValue(during, 'infergate_backend_in_flight_requests', { backend: sim.url }), 1);
      assert.ok((metricValue(during, 'infergate_backend_in_flight_tokens', { backend: sim.url, phase: 'decode' }) as number) > 0);
      assert.equal(metricValue(during, 'infergate_backend_in_flight_tokens', { backend: sim.url, phase: 'prefill' }), 0);
      assert.equal(metricValue(during, 'infergate_backend_ejections_total', { backend: sim.url }), 0);
      controller.abort();
      await eventually(async () => metricValue(await metrics(gw), 'infergate_backend_in_flight_requests', { backend: sim.url }) === 0);
    } finally {
      sim.setFault(null);
      controller.abort();
      await gw.close(100);
    }
  });
});

describe('the default policy in front of the quick start', () => {
  /**
   * The quick start's fleet (`sim: {replicas: 2}`): two identical simulated vLLM backends with the simple engine,
   * whose latency grows with its load, in real time; every request the same short prompt, streamed like the README's
   * SDK example, about 120 a second. Returns each backend's share of the requests and its peak load (running plus
   * waiting, from its own /metrics).
   */
  async function run(policy: string): Promise<{ shares: number[]; peaks: number[] }> {
    const fleet = await Promise.all([0, 1].map(() => startSim({ port: 0, personality: 'vllm', engine: 'simple', model: 'sim-llama-8b' })));
    const gw = await startTestGateway([{ name: 'sim-llama-8b', policy, backends: fleet.map((s) => ({ url: s.url })) }]);
    const peaks = [0, 0];
    const sample = setInterval(() => {
      fleet.forEach(async (s, i) => {
        const text = await (await fetch(`${s.url}/metrics`)).text();
        const load = (metricValue(text, 'vllm:num_requests_running') ?? 0) + (metricValue(text, 'vllm:num_requests_waiting') ?? 0);
        peaks[i] = Math.max(peaks[i] as number, load);
      });
    }, 100);
    const body = JSON.stringify({ model: 'sim-llama-8b', messages: [{ role: 'user', content: 'Hello' }], stream: true });
    const pending: Promise<string>[] = [];
    try {
      for (let tick = 0; tick < 60; tick++) {
        for (let k = 0; k < 6; k++) {
          pending.push(fetch(`${gw.url}${CHAT}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.text()));
        }
        await sleep(50);
      }
      const answers = await Promise.all(pending);
      assert.ok(answers.every((a) => a.includes('[DONE]')), 'every stream completed');
    } finally {
      clearInterval(sample);
      await gw.close(100);
      await Promise.all(fleet.map((s) => s.close()));
    }
    const counts = fleet.map((s) => s.log.entries.filter((e) => e.path === CHAT).length);
    const total = counts.reduce((a, b) => a + b, 0);
    assert.equal(total, 360);
    return { shares: counts.map((c) => c / total), peaks };
  }

  test('token_aware spreads identical backends at least as evenly as least_requests', async () => {
    const least = await run('least_requests');
    const ours = await run('token_aware');
    const msg = `token_aware ${JSON.stringify(ours)} vs least_requests ${JSON.stringify(least)}`;
    // Real time on a shared machine: a few percent either way is noise (the discrete-event test in
    // test/routing/pile-up.test.ts holds the split exactly); on main one backend got 87% here.
    assert.ok(Math.max(...ours.shares) <= Math.max(...least.shares) + 0.1, msg);
    assert.ok(Math.max(...ours.peaks) <= Math.max(...least.peaks) * 1.5 + 5, msg);
  });
});
