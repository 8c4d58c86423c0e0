import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startGateway, silentLogger, type Gateway } from '../../src/server/index.js';
import { loadConfigFile } from '../../src/config/index.js';
import { createTelemetry } from '../../src/telemetry/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { client, configYaml, eventually, startSims } from '../helpers/harness.js';

describe('config hot reload', () => {
  let dir: string;
  let file: string;
  let sims: SimServer[];
  let gw: Gateway;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'infergate-reload-'));
    file = join(dir, 'infergate.yaml');
    sims = await startSims(1);
    await writeFile(file, configYaml([{ name: 'one', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] }]));
    gw = await startGateway({ configFile: file, logger: silentLogger, listen: { host: '127.0.0.1', port: 0 } });
  });
  after(async () => {
    await gw.close(100);
    await Promise.all(sims.map((s) => s.close()));
    await rm(dir, { recursive: true, force: true });
  });

  test('applies a good edit on file change', async () => {
    await writeFile(file, configYaml([{ name: 'two', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] }]));
    await eventually(() => gw.config().models.has('two'));
    const r = await client(gw).chat.completions.create({ model: 'two', messages: [{ role: 'user', content: 'hi' }] });
    assert.ok(r.choices[0]?.message.content);
  });

  test('says which edits wait for a restart: the listener, the worker count, the simulators', async () => {
    const warnings: Array<Record<string, unknown>> = [];
    const logger = { info() {}, error() {}, warn: (o: object) => void warnings.push(o as Record<string, unknown>) };
    const f = join(dir, 'restart.yaml');
    const models = [{ name: 'one', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] }];
    await writeFile(f, configYaml(models));
    // As the command line starts it: the file, and its config already loaded (to start the simulators first).
    const g = await startGateway({ configFile: f, config: await loadConfigFile(f), logger, watch: false, listen: { host: '127.0.0.1', port: 0 } });
    try {
      const view = (await (await fetch(`${g.url}/console/api/config`)).json()) as { source: string };
      assert.equal(view.source, f, 'the console names the file from the start, not "(inline)"');
      await writeFile(f, configYaml(models, { listen: '127.0.0.1:1', workers: 2 }));
      assert.equal(await g.reload(), true);
      const w = warnings.find((e) => e.event === 'server_change_needs_restart');
      assert.deepEqual(w?.sections, ['server.listen', 'server.workers']);
      // The shared state (Redis, the fallback share) is opened once too.
      warnings.length = 0;
      await writeFile(f, configYaml(models, { listen: '127.0.0.1:1', workers: 2 }, { state: { replicas: 3 } }));
      assert.equal(await g.reload(), true);
      assert.deepEqual(warnings.find((e) => e.event === 'server_change_needs_restart')?.sections, ['state']);
    } finally {
      await g.close(100);
    }
  });

  test('applies a new log level live and says which telemetry and listener settings wait for a restart', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => void (lines.push(...chunk.toString().split('\n').filter(Boolean)), done()) });
    const telemetry = createTelemetry({ tracing: false, processMetrics: false, log: { level: 'info', destination: sink } });
    const f = join(dir, 'telemetry.yaml');
    const models = [{ name: 'one', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] }];
    await writeFile(f, configYaml(models));
    const g = await startGateway({ configFile: f, telemetry, watch: false, listen: { host: '127.0.0.1', port: 0 } });
    const requestLines = () => lines.filter((l) => (JSON.parse(l) as { msg?: string }).msg === 'request').length;
    const ask = () => client(g).chat.completions.create({ model: 'one', messages: [{ role: 'user', content: 'hi' }] });
    try {
      await ask();
      await eventually(() => requestLines() === 1);
      await writeFile(f, configYaml(models, { max_header_size: '64KiB', timeouts: { body: '5s' } }, { telemetry: { log_level: 'warn', log_pretty: true } }));
      assert.equal(await g.reload(), true);
      const warned = lines.map((l) => JSON.parse(l) as { event?: string; sections?: string[] }).find((e) => e.event === 'server_change_needs_restart');
      assert.deepEqual(warned?.sections, ['server.max_header_size', 'server.timeouts.body', 'telemetry.log_pretty']);
      await ask();
      await telemetry.shutdown();
      assert.equal(requestLines(), 1, 'log_level: warn applies at once: no info line for the request after the reload');
    } finally {
      await g.close(100);
    }
  });

  test('a secret file that cannot be used at a reload is named by its key and file', async () => {
    const errors: Array<Record<string, unknown>> = [];
    const logger = { info() {}, warn() {}, error: (o: object) => void errors.push(o as Record<string, unknown>) };
    const f = join(dir, 'secret.yaml');
    const secretFile = join(dir, 'hmac-secret');
    await writeFile(secretFile, 's'.repeat(40));
    const models = [{ name: 'one', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] }];
    const auth = { issuers: [{ issuer: 'a', audience: 'x', secret: 'k'.repeat(40), algorithms: ['HS256'] }, { issuer: 'b', audience: 'x', secret_file: secretFile, algorithms: ['HS256'] }] };
    await writeFile(f, JSON.stringify({ auth, server: { listen: '127.0.0.1:0' }, models }));
    const g = await startGateway({ configFile: f, logger, watch: false, listen: { host: '127.0.0.1', port: 0 } });
    try {
      // Rotated to something too short: which of the two issuers is it?
      await writeFile(secretFile, 'short');
      assert.equal(await g.reload(), false);
      const failed = errors.find((e) => e.event === 'config_reload_failed');
      assert.deepEqual(failed?.problems, [`${f}: auth.issuers[1].secret_file: the secret must be at least 32 bytes for HS256`]);
    } finally {
      await g.close(100);
    }
  });

  test('keeps the last good config when an edit is invalid', async () => {
    const before = gw.config();
    await writeFile(file, 'models:\n  - name: broken\n    backends: []\n    tyop: 1\n');
    assert.equal(await gw.reload(), false);
    assert.equal(gw.config(), before);
    const r = await client(gw).chat.completions.create({ model: 'two', messages: [{ role: 'user', content: 'still here' }] });
    assert.ok(r.choices[0]?.message.content);
  });
});
