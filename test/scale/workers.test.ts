import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { eventually, startSims } from '../helpers/harness.js';
import { alive, chat, startGatewayProc, tempConfig, type GatewayProc } from './proc.js';

const base = (dir: string, extra: Record<string, unknown> = {}) => ({
  server: { listen: '127.0.0.1:0', workers: 2, drain: '3s' },
  auth: 'none',
  sim: { replicas: 1, engine: 'fast' },
  usage: { sqlite: join(dir, 'usage.db'), flush_interval: '50ms', batch_size: 64 },
  telemetry: { log_level: 'warn', metrics: false },
  ...extra,
});

const usageRows = (dir: string): number => {
  const db = new Database(join(dir, 'usage.db'), { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM usage').get() as { n: number }).n;
  } finally {
    db.close();
  }
};

async function burst(url: string, n: number, concurrency: number): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        statuses.push(await chat(url));
      }
    }),
  );
  return statuses;
}

/** Which process answered: its request ids share a random prefix (core/ids.ts). */
async function servingProcess(url: string): Promise<string> {
  const res = await fetch(`${url}/v1/models`, { headers: { connection: 'close' } });
  await res.arrayBuffer();
  return (res.headers.get('x-request-id') ?? '').slice(0, 16);
}

describe('server.workers: 2 (a supervisor and two workers on one port)', () => {
  let gw: GatewayProc;
  let file: string;
  let dir: string;
  before(async () => {
    ({ dir, file } = await tempConfig((d) => base(d, { limits: [{ match: { subject: '*' }, rpm: 30 }] })));
    gw = await startGatewayProc(dir, file);
  });
  after(() => gw.cleanup());

  test('runs two workers and admits exactly the rpm limit across them', async () => {
    assert.equal(gw.workers().length, 2);
    const statuses = await burst(gw.url, 60, 20);
    assert.equal(statuses.filter((s) => s === 200).length, 30, String(statuses));
    assert.equal(statuses.filter((s) => s === 429).length, 30);
  });

  test('reloads on SIGHUP in every worker, and a bad file changes none of them', async () => {
    // Any request is now larger than the whole tpm limit: every worker answers 429 "too large" once it swapped.
    await writeFile(file, JSON.stringify(base(dir, { limits: [{ match: { subject: '*' }, tpm: 3 }] })));
    process.kill(gw.child.pid!, 'SIGHUP');
    await eventually(async () => (await Promise.all(Array.from({ length: 12 }, () => chat(gw.url)))).every((s) => s === 429), 10_000, 100);
    await writeFile(file, '{ "server": { "workers": "many" } }');
    process.kill(gw.child.pid!, 'SIGHUP');
    await eventually(() => /config_reload_failed/.test(gw.output()), 10_000);
    // Back to no limits at all: every worker serves again.
    await writeFile(file, JSON.stringify(base(dir)));
    process.kill(gw.child.pid!, 'SIGHUP');
    await eventually(async () => (await Promise.all(Array.from({ length: 12 }, () => chat(gw.url)))).every((s) => s === 200), 10_000, 100);
  });

  test('restarts a worker killed with SIGKILL, and loses at most the rows it had not yet handed over', async () => {
    const before = gw.workers();
    // Every row of the earlier tests committed: the count stays the same over a few flush intervals.
    let last = -1;
    const rowsBefore = await eventually(async () => {
      const n = usageRows(dir);
      const stable = n === last && n > 0;
      last = n;
      await new Promise((r) => setTimeout(r, 200));
      return stable ? n : 0;
    }, 10_000);
    let answered = 0;
    let stop = false;
    const load = Promise.all(
      Array.from({ length: 8 }, async () => {
        while (!stop) if ((await chat(gw.url).catch(() => 0)) !== 0) answered++;
      }),
    );
    await new Promise((r) => setTimeout(r, 300));
    process.kill(before[0]!, 'SIGKILL');
    await eventually(() => gw.workers().length === 2 && !gw.workers().includes(before[0]!), 15_000, 50);
    stop = true;
    await load;
    assert.ok(!alive(before[0]!));
    // Rows reach the supervisor within 50 ms of the answer; a hard kill loses only those not yet sent.
    await new Promise((r) => setTimeout(r, 300));
    const lost = rowsBefore + answered - usageRows(dir);
    assert.ok(lost >= 0 && lost <= 64, `lost ${lost} of ${answered} rows`);
    assert.equal(await chat(gw.url), 200);
  });

  test('a worker restarted while the file holds a rejected edit starts on the config the workers run', async () => {
    await writeFile(file, JSON.stringify(base(dir, { limits: [{ match: { subject: '*' }, tpm: 3 }] })));
    process.kill(gw.child.pid!, 'SIGHUP');
    await eventually(async () => (await Promise.all(Array.from({ length: 12 }, () => chat(gw.url)))).every((s) => s === 429), 10_000, 100);
    const failures = () => gw.output().match(/config_reload_failed/g)?.length ?? 0;
    const failed = failures();
    await writeFile(file, '{ "server": { "workers": "many" } }');
    process.kill(gw.child.pid!, 'SIGHUP');
    await eventually(() => failures() > failed, 10_000);
    // Both workers serve (the one restarted by the test before may still be starting): with port 0, a moment with no
    // worker listening would give the replacement a new port.
    await eventually(async () => new Set(await Promise.all(Array.from({ length: 8 }, () => servingProcess(gw.url)))).size === 2, 15_000, 100);
    const before = gw.workers();
    process.kill(before[0]!, 'SIGKILL');
    await eventually(() => gw.workers().length === 2 && !gw.workers().includes(before[0]!), 15_000, 50);
    // Both workers, the new one included, run the tpm: 3 config: every request is too large (the new worker's first
    // connections may still fail while it starts listening).
    await eventually(async () => (await Promise.all(Array.from({ length: 12 }, () => chat(gw.url)))).every((st) => st === 429), 10_000, 100);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(gw.output().match(/worker \d+ exited/g)?.length ?? 0, 2, 'no crash loop on the rejected file');
    assert.equal(gw.output().match(/listening on/g)?.length, 1, 'the banner is printed once, not again for each restarted worker');
    await writeFile(file, JSON.stringify(base(dir)));
    process.kill(gw.child.pid!, 'SIGHUP');
    await eventually(async () => (await Promise.all(Array.from({ length: 12 }, () => chat(gw.url)))).every((st) => st === 200), 10_000, 100);
  });
});

describe('stopping a supervised gateway', () => {
  test('SIGTERM drains every worker and writes every usage row', async () => {
    const { dir, file } = await tempConfig((d) => base(d));
    const gw = await startGatewayProc(dir, file);
    try {
      const statuses = await burst(gw.url, 200, 16);
      assert.ok(statuses.every((s) => s === 200));
      const workers = gw.workers();
      process.kill(gw.child.pid!, 'SIGTERM');
      assert.equal(await gw.exited, 0);
      for (const w of workers) assert.ok(!alive(w), `worker ${w} outlived its supervisor`);
      assert.equal(usageRows(dir), 200);
    } finally {
      await gw.cleanup();
    }
  });

  test('a supervisor killed with SIGKILL takes its workers down and loses at most its last batches', async () => {
    const { dir, file } = await tempConfig((d) => base(d));
    const gw = await startGatewayProc(dir, file);
    try {
      const statuses = await burst(gw.url, 200, 16);
      assert.ok(statuses.every((s) => s === 200));
      const workers = gw.workers();
      process.kill(gw.child.pid!, 'SIGKILL');
      // Workers see the IPC channel close and stop: nothing keeps the port.
      await eventually(() => workers.every((w) => !alive(w)), 15_000, 50);
      const lost = 200 - usageRows(dir);
      // Killed right after the last answer: at most the last IPC hand-over (50 ms) and the open batch (64 rows).
      assert.ok(lost >= 0 && lost <= 64 + 16, `lost ${lost} rows`);
    } finally {
      await gw.cleanup();
    }
  });
});

describe('server.workers: 2 on a first start', () => {
  test("creates the development secret before minting the printed token (no worker has compiled the config yet)", async () => {
    const { dir, file } = await tempConfig((d) => ({
      ...base(d),
      auth: {
        issuers: [{ issuer: 'infergate-dev', audience: 'infergate', secret_file: join(d, 'data', 'dev-secret'), generate_if_missing: true, algorithms: ['HS256'] }],
        claims: { subject: 'sub', team: 'team', scopes: 'scope' },
      },
    }));
    const gw = await startGatewayProc(dir, file);
    try {
      const token = await eventually(() => /export INFERGATE_TOKEN=(\S+)/.exec(gw.output())?.[1], 10_000);
      // The same banner as one process prints: the address clients use, the models, the console.
      assert.match(gw.output(), /listening on http:\/\/127\.0\.0\.1:\d+\/v1 \(2 workers, config /);
      assert.match(gw.output(), /models: sim-llama-8b/);
      assert.match(gw.output(), /console: http:\/\/127\.0\.0\.1:\d+\/console/);
      assert.equal(await chat(gw.url), 401);
      assert.equal(await chat(gw.url, { authorization: `Bearer ${token}` }), 200);
    } finally {
      await gw.cleanup();
    }
  });
});

describe('server.workers: 2 after a reload', () => {
  test('SIGTERM waits for the server.drain the workers run now, not the one they started with', async () => {
    const [sim] = await startSims(1, { timeScale: 1, itlMs: 60 });
    const doc = (d: string, drain: string) => ({
      ...base(d),
      sim: undefined,
      server: { listen: '127.0.0.1:0', workers: 2, drain },
      telemetry: { log_level: 'info', metrics: false },
      models: [{ name: 'm', backends: [{ url: sim!.url, model: 'sim-llama-8b' }] }],
    });
    const { dir, file } = await tempConfig((d) => doc(d, '1s'));
    const gw = await startGatewayProc(dir, file);
    try {
      await writeFile(file, JSON.stringify(doc(dir, '30s')));
      process.kill(gw.child.pid!, 'SIGHUP');
      await eventually(() => /config reloaded in all 2 workers/.test(gw.output()), 10_000);
      // ~120 tokens at 60 ms: about 7 s, longer than the first drain plus the supervisor's 5 s of grace.
      const stream = fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true, max_tokens: 120, min_tokens: 120, ignore_eos: true }),
      }).then((r) => r.text());
      await new Promise((r) => setTimeout(r, 1000));
      process.kill(gw.child.pid!, 'SIGTERM');
      const text = await stream;
      assert.match(text, /data: \[DONE\]/, 'the stream was cut by the start-up drain');
      assert.equal(await gw.exited, 0);
      // A log line like any other (JSON), not plain text among them.
      assert.match(gw.output(), /^\{.*"event":"shutdown_started","signal":"SIGTERM","workers":2,"drain_ms":30000,.*up to 30000 ms.*\}$/m);
      assert.equal(usageRows(dir), 1);
    } finally {
      await gw.cleanup();
      await sim!.close();
    }
  });

  test('a refused edit is counted in every worker\'s /metrics', async () => {
    const { dir, file } = await tempConfig((d) => ({ ...base(d), telemetry: { log_level: 'warn', metrics: true } }));
    const gw = await startGatewayProc(dir, file);
    try {
      await writeFile(file, '{ "server": { "drain": "zz" } }');
      process.kill(gw.child.pid!, 'SIGHUP');
      await eventually(() => /config_reload_failed/.test(gw.output()), 10_000);
      // Each fresh connection may land on either worker: all of them must have counted it.
      await eventually(async () => {
        const bodies = await Promise.all(
          Array.from({ length: 8 }, async () => (await fetch(`${gw.url}/metrics`, { headers: { connection: 'close' } })).text()),
        );
        return bodies.every((b) => /infergate_config_reloads_total\{result="failure"\} 1/.test(b));
      }, 10_000, 100);
    } finally {
      await gw.cleanup();
    }
  });
});
