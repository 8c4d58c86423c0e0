import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventually } from '../helpers/harness.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startCountingBackend, type CountingBackend } from './counting-backend.js';
import { chat, startGatewayProc, tempConfig, type GatewayProc } from './proc.js';

/**
 * Usage across replicas as real processes: a single-process replica and one of two workers under a supervisor (the
 * host's usage writer, so the sync runs there), on one Redis. The supervisor's replica is SIGKILLed (the supervisor
 * and its workers at once), traffic goes on at the other, and the killed one restarted on its own file catches up:
 * both report every request once.
 */
describe('usage shared by replica processes, one killed and restarted', () => {
  let redis: TestRedis;
  let backend: CountingBackend;
  const procs: GatewayProc[] = [];
  const files: { dir: string; file: string }[] = [];

  before(async () => {
    redis = await startRedis();
    backend = await startCountingBackend(1);
    for (const workers of [1, 2]) {
      files.push(
        await tempConfig((dir) => ({
          server: { listen: '127.0.0.1:0', drain: '1s', workers },
          auth: 'none',
          models: [{ name: 'm', backends: [{ url: backend.url, kind: 'openai' }], retries: 0 }],
          routing: { health: { probe_interval: 0 }, scrape: { interval: 0 } },
          usage: { sqlite: join(dir, 'usage.db'), flush_interval: '50ms' },
          state: { redis: redis.url, sync_interval: '50ms', usage: { interval: '50ms' } },
          telemetry: { log_level: 'error', metrics: false },
        })),
      );
    }
    for (const f of files) procs.push(await startGatewayProc(f.dir, f.file));
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.cleanup()));
    await backend?.close();
    await redis?.close();
  });

  let sent = 0;
  async function traffic(p: GatewayProc, n: number): Promise<void> {
    await Promise.all(
      Array.from({ length: 4 }, async (_, lane) => {
        for (let i = lane; i < n; i += 4) assert.equal(await chat(p.url, {}, 'm'), 200);
      }),
    );
    sent += n;
  }
  const requests = async (p: GatewayProc): Promise<number> => {
    const body = (await (await fetch(`${p.url}/admin/usage?from=1h`)).json()) as { data: Array<{ requests: number }> };
    return body.data.reduce((n, r) => n + r.requests, 0);
  };
  async function bothReport(): Promise<void> {
    await eventually(async () => {
      const counts = await Promise.all(procs.map(requests));
      for (const c of counts) assert.ok(c <= sent, `a replica counts ${c} of ${sent}`);
      return counts.every((c) => c === sent);
    }, 30_000, 100);
  }

  test('each replica reports the requests of both', async () => {
    await Promise.all([traffic(procs[0]!, 40), traffic(procs[1]!, 60)]);
    await bothReport();
  });

  test('a replica SIGKILLed while the other serves catches up when it starts again, counting nothing twice', async () => {
    await traffic(procs[1]!, 20);
    await bothReport();
    const killed = procs[1]!;
    process.kill(-killed.child.pid!, 'SIGKILL');
    await killed.exited;
    await traffic(procs[0]!, 30);
    procs[1] = await startGatewayProc(files[1]!.dir, files[1]!.file);
    await traffic(procs[1], 10);
    await bothReport();
    assert.equal(sent, 160);
  });
});
