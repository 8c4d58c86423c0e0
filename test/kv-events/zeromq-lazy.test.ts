import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const BIN = resolve('bin/infergate.mjs');

/** The native addons (.node files) mapped into a real gateway process started on `config`, once it listens. */
async function addonsOfGateway(config: string): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ig-zmq-'));
  writeFileSync(join(dir, 'gw.yaml'), config);
  const child = spawn(process.execPath, [BIN, '--config', join(dir, 'gw.yaml')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, INFERGATE_CONFIG: '' } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await new Promise<void>((listening, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner: ${out}`)), 60_000);
      child.stdout.on('data', () => {
        if (!out.includes('listening on')) return;
        clearTimeout(timer);
        listening();
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    const maps = readFileSync(`/proc/${child.pid}/maps`, 'utf8');
    return [...new Set(maps.split('\n').map((l) => l.trim().split(/\s+/)[5] ?? '').filter((p) => p.endsWith('.node')))];
  } finally {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

const config = (kvEvents: string) => `server: { listen: "127.0.0.1:0" }
auth: none
usage: false
models:
  - name: m
    backends:
      - url: http://127.0.0.1:9
        ${kvEvents}
`;
const isZeromq = (path: string) => path.includes('/zeromq/');

test('a gateway without kv_events never loads zeromq\'s native addon; one with kv_events loads it at start', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
  const off = await addonsOfGateway(config(''));
  assert.deepEqual(off.filter(isZeromq), [], `addons mapped: ${off.join(', ')}`);
  // The same check sees the addon when the config asks for KV events (so the absence above means something).
  const on = await addonsOfGateway(config('kv_events: { endpoint: "tcp://127.0.0.1:9", tokenizer: simulator }'));
  assert.equal(on.filter(isZeromq).length, 1, `addons mapped: ${on.join(', ')}`);
});
