import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { lintExposition } from '../telemetry/promlint.js';
import { startGatewayProc, tempConfig, type GatewayProc } from './proc.js';

const MODEL = 'sim-llama-8b';

async function scrape(url: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  const res = await fetch(`${url}/metrics`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}

/** One chat completion on a fresh connection; the serving process's request-id prefix (core/ids.ts). */
async function chatFrom(url: string): Promise<string> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', connection: 'close' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 }),
    signal: AbortSignal.timeout(15_000),
  });
  await res.arrayBuffer();
  assert.equal(res.status, 200);
  return (res.headers.get('x-request-id') ?? '').slice(0, 16);
}

/** Every sample line of `name` (exactly that name) whose labels include all of `labels`, as numbers. */
function samples(body: string, name: string, labels: Record<string, string> = {}): number[] {
  const out: number[] = [];
  for (const line of body.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (!Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) continue;
    out.push(Number(m[3]));
  }
  return out;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** The Prometheus text format, line by line: comments, HELP/TYPE once per family, samples `name{labels} value`. */
function assertParses(body: string): void {
  const typed = new Set<string>();
  for (const line of body.split('\n')) {
    if (line === '') continue;
    const t = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (t) {
      assert.ok(!typed.has(t[1]!), `family ${t[1]} typed twice`);
      typed.add(t[1]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/, line);
  }
}

describe('server.workers: 2, /metrics', () => {
  let gw: GatewayProc;
  before(async () => {
    const { dir, file } = await tempConfig((d) => ({
      server: { listen: '127.0.0.1:0', workers: 2, drain: '3s' },
      auth: 'none',
      sim: { replicas: 1, engine: 'fast' },
      usage: { sqlite: join(d, 'usage.db'), flush_interval: '50ms', batch_size: 64 },
      telemetry: { log_level: 'warn', metrics: true },
    }));
    gw = await startGatewayProc(dir, file);
  });
  after(() => gw.cleanup());

  test('every scrape, whichever worker answers, reports the whole host: counters summed, copies not doubled', async () => {
    const K = 40;
    const served = new Set<string>();
    for (let i = 0; i < K; i += 8) (await Promise.all(Array.from({ length: 8 }, () => chatFrom(gw.url)))).forEach((p) => served.add(p));
    assert.equal(served.size, 2, 'both workers served requests');
    for (let i = 0; i < 6; i++) {
      const { status, body } = await scrape(gw.url);
      assert.equal(status, 200);
      assertParses(body);
      // What `promtool check metrics` checks: the merge keeps HELP, TYPE and names as one process has them.
      assert.deepEqual(lintExposition(body), []);
      assert.doesNotMatch(body, /^# infergate:/m);
      assert.equal(sum(samples(body, 'infergate_requests_total', { model: MODEL })), K, `scrape ${i}`);
      // Histograms merge bucket by bucket: the count of the request duration is the host's too.
      assert.equal(sum(samples(body, 'gen_ai_server_request_duration_seconds_count', { gen_ai_request_model: MODEL })), K);
      // Each worker's own copy of the same thing: 1, not 2.
      assert.deepEqual(samples(body, 'infergate_state_shared'), [1]);
      const healthy = samples(body, 'infergate_backend_healthy');
      assert.ok(healthy.length > 0 && healthy.every((v) => v === 1), String(healthy));
      assert.deepEqual(samples(body, 'infergate_config_reloads_total', { result: 'failure' }), [0]);
      // prom-client's own choices for the process metrics: one version line, the start time omitted.
      assert.equal(samples(body, 'nodejs_version_info').length, 1);
      assert.equal(samples(body, 'process_start_time_seconds').length, 0);
    }
  });

  test('a worker that does not answer leaves the scrape to the others, with a comment, not an error', async () => {
    const pids = gw.workers();
    assert.equal(pids.length, 2);
    process.kill(pids[0]!, 'SIGSTOP');
    try {
      // A connection handed to the stopped worker waits; the next one goes to the other worker.
      let answered: { status: number; body: string } | null = null;
      for (let i = 0; i < 4 && !answered; i++) answered = await scrape(gw.url, 6000).catch(() => null);
      assert.ok(answered, 'some scrape was answered');
      assert.equal(answered.status, 200);
      assert.match(answered.body, /^# infergate: worker \d+ did not answer within \d+ ms/m);
      assertParses(answered.body);
      assert.ok(sum(samples(answered.body, 'infergate_requests_total', { model: MODEL })) > 0);
    } finally {
      process.kill(pids[0]!, 'SIGCONT');
    }
  });
});
