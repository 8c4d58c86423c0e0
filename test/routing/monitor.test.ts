import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, describe, it } from 'node:test';
import { compileConfig, parseConfigText } from '../../src/config/index.js';
import { createRouter, type Router, type RoutingLogger } from '../../src/routing/index.js';
import { eventually } from '../helpers/harness.js';

interface Hit {
  readonly path: string;
  readonly authorization: string | undefined;
}

/** A backend that records every request and answers per path (`answer` returns a status; 404 when it has none). */
async function backend(answer: (path: string) => number | undefined): Promise<{ port: number; hits: Hit[]; server: Server }> {
  const hits: Hit[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const path = req.url ?? '';
    hits.push({ path, authorization: req.headers.authorization });
    const status = answer(path) ?? 404;
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(status === 200 && path.endsWith('/metrics') ? 'vllm:num_requests_running 0\n' : '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  return { port: addr.port, hits, server };
}

/** The targets the gateway would build for one backend entry (the real compile path). */
function compiled(url: string, kind: string, extra = '') {
  const cfg = parseConfigText(`auth: none\nmodels:\n  - name: m\n    backends:\n      - { url: "${url}", kind: ${kind}${extra} }\n`, 'gw.yaml', {});
  return compileConfig(cfg, 'gw.yaml').pools;
}

function recordingLogger(): RoutingLogger & { lines: Array<{ level: string; obj: Record<string, unknown> }> } {
  const lines: Array<{ level: string; obj: Record<string, unknown> }> = [];
  return {
    lines,
    info: (obj) => void lines.push({ level: 'info', obj: obj as Record<string, unknown> }),
    warn: (obj) => void lines.push({ level: 'warn', obj: obj as Record<string, unknown> }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('backend monitor', () => {
  const servers: Server[] = [];
  const routers: Router[] = [];
  after(() => {
    for (const r of routers) r.close();
    for (const s of servers) s.close();
  });
  const start = (opts: Parameters<typeof createRouter>[0]) => {
    const r = createRouter(opts);
    routers.push(r);
    return r;
  };

  for (const kind of ['vllm', 'sglang', 'tgi', 'llamacpp']) {
    it(`probes and scrapes a ${kind} backend configured as .../v1 at the server's root`, async () => {
      const b = await backend((p) => (p === '/health' || p === '/metrics' ? 200 : undefined));
      servers.push(b.server);
      const pools = compiled(`http://127.0.0.1:${b.port}/v1`, kind);
      const router = start({ probeIntervalMs: 15, scrapeIntervalMs: 15, unhealthyThreshold: 1 });
      router.setPools(pools);
      await eventually(() => b.hits.filter((h) => h.path === '/health').length >= 3 && b.hits.some((h) => h.path === '/metrics'));
      assert.deepEqual(b.hits.filter((h) => h.path !== '/health' && h.path !== '/metrics'), [], 'nothing polled under /v1');
      assert.equal(router.isHealthy(pools[0]!.targets[0]!.id), true);
      router.close();
    });
  }

  it('keeps a path prefix in front of /v1 and strips only the /v1', async () => {
    const b = await backend((p) => (p === '/proxy/a/health' ? 200 : undefined));
    servers.push(b.server);
    const router = start({ probeIntervalMs: 15, scrapeIntervalMs: 0 });
    router.setPools(compiled(`http://127.0.0.1:${b.port}/proxy/a/v1`, 'vllm'));
    await eventually(() => b.hits.length >= 2);
    assert.ok(b.hits.every((h) => h.path === '/proxy/a/health'), JSON.stringify(b.hits));
    router.close();
  });

  it('probes Ollama at /api/version and never scrapes it', async () => {
    const b = await backend((p) => (p === '/api/version' ? 200 : undefined));
    servers.push(b.server);
    const pools = compiled(`http://127.0.0.1:${b.port}/v1`, 'ollama');
    const router = start({ probeIntervalMs: 15, scrapeIntervalMs: 15, unhealthyThreshold: 1 });
    router.setPools(pools);
    await eventually(() => b.hits.length >= 3);
    await sleep(50);
    assert.ok(b.hits.every((h) => h.path === '/api/version'), JSON.stringify(b.hits));
    assert.equal(router.isHealthy(pools[0]!.targets[0]!.id), true);
    router.close();
  });

  it('probes a generic OpenAI server with GET /v1/models and its own key, and never scrapes it', async () => {
    const b = await backend((p) => (p === '/openai/v1/models' ? 200 : undefined));
    servers.push(b.server);
    const pools = compiled(`http://127.0.0.1:${b.port}/openai/v1`, 'openai', ', api_key: sk-test');
    const router = start({ probeIntervalMs: 15, scrapeIntervalMs: 15, unhealthyThreshold: 1 });
    router.setPools(pools);
    await eventually(() => b.hits.length >= 3);
    await sleep(50);
    assert.ok(b.hits.every((h) => h.path === '/openai/v1/models' && h.authorization === 'Bearer sk-test'), JSON.stringify(b.hits));
    assert.equal(router.isHealthy(pools[0]!.targets[0]!.id), true);
    router.close();
  });

  it('backs off a missing /metrics (501, llama-server without --metrics), logs it once, counts it, and resumes when it appears', async () => {
    let metricsStatus = 501;
    const b = await backend((p) => (p === '/metrics' ? metricsStatus : p === '/health' ? 200 : undefined));
    servers.push(b.server);
    const log = recordingLogger();
    const pools = compiled(`http://127.0.0.1:${b.port}`, 'llamacpp');
    const id = pools[0]!.targets[0]!.id;
    const router = start({ probeIntervalMs: 0, scrapeIntervalMs: 10, logger: log });
    router.setPools(pools);
    const scrapes = () => b.hits.filter((h) => h.path === '/metrics').length;
    await eventually(() => scrapes() >= 1);
    // At a 10 ms interval a second of polling is ~100 scrapes; doubling delays (20, 40, … 640 ms) allow at most 8.
    await sleep(1000);
    const seen = scrapes();
    assert.ok(seen <= 8, `scraped a missing /metrics ${seen} times in a second`);
    const missing = log.lines.filter((l) => l.obj['event'] === 'backend_metrics_missing');
    assert.equal(missing.length, 1, 'logged once');
    assert.equal(missing[0]!.level, 'warn');
    assert.equal(missing[0]!.obj['backend'], id);
    assert.equal(missing[0]!.obj['model'], 'm');
    const stats = router.stats().backends.find((s) => s.id === id)!;
    assert.equal(stats.scrapeFailures.get('missing'), seen);
    assert.equal(stats.scrapeAgeMs, null);
    metricsStatus = 200;
    await eventually(() => router.stats().backends[0]!.scrapeAgeMs !== null, 5000);
    assert.equal(log.lines.filter((l) => l.obj['event'] === 'backend_metrics_found').length, 1);
    router.close();
  });

  it('counts a scrape that fails for other reasons without calling the page missing', async () => {
    const b = await backend((p) => (p === '/metrics' ? 500 : undefined));
    servers.push(b.server);
    const log = recordingLogger();
    const router = start({ probeIntervalMs: 0, scrapeIntervalMs: 10, logger: log });
    router.setPools(compiled(`http://127.0.0.1:${b.port}`, 'vllm'));
    // The backend sees a scrape before the monitor has read its answer: wait for the count, not for the hits.
    await eventually(() => b.hits.length >= 4 && (router.stats().backends[0]!.scrapeFailures.get('status') ?? 0) >= 4);
    assert.equal(log.lines.length, 0, 'a failing page is counted, not logged as missing');
    router.close();
  });
});
