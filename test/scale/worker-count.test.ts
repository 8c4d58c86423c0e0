import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cgroupCpuQuota, resolveWorkers } from '../../src/server/worker-count.js';
import { parseConfigText } from '../../src/config/index.js';

const files = (map: Record<string, string>) => (path: string) => map[path] ?? null;

test('workers: auto follows the CPUs the process may use, capped by the cgroup CPU quota', () => {
  assert.equal(resolveWorkers('auto', { cpus: 8, quota: null }), 8);
  assert.equal(resolveWorkers('auto', { cpus: 8, quota: 2.5 }), 2);
  assert.equal(resolveWorkers('auto', { cpus: 2, quota: 6 }), 2);
  assert.equal(resolveWorkers('auto', { cpus: 4, quota: 0.5 }), 1, 'a fraction of a CPU still gets one worker');
  assert.equal(resolveWorkers(3, { cpus: 1, quota: 1 }), 3, 'an explicit count is taken as it is');
});

test('reads cgroup v2 cpu.max and v1 cfs quota and period', () => {
  assert.equal(cgroupCpuQuota(files({ '/sys/fs/cgroup/cpu.max': '200000 100000\n' })), 2);
  assert.equal(cgroupCpuQuota(files({ '/sys/fs/cgroup/cpu.max': 'max 100000\n' })), null);
  assert.equal(cgroupCpuQuota(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '150000', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' })), 1.5);
  assert.equal(cgroupCpuQuota(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' })), null);
  assert.equal(cgroupCpuQuota(files({})), null);
});

test('server.workers and state are validated at load', () => {
  const base = { auth: 'none', sim: {} };
  assert.equal(parseConfigText(JSON.stringify(base), 'x').server.workers, 1, 'one process unless asked');
  assert.equal(parseConfigText(JSON.stringify({ ...base, server: { workers: 'auto' } }), 'x').server.workers, 'auto');
  assert.throws(() => parseConfigText(JSON.stringify({ ...base, server: { workers: 0 } }), 'x'), /workers/);
  const st = parseConfigText(JSON.stringify({ ...base, state: { redis: 'redis://r:6379' } }), 'x').state!;
  assert.deepEqual({ ...st }, { redis: 'redis://r:6379', prefix: 'infergate:', sync_interval: 100, lease_ttl: 5000, on_unreachable: 'share', replicas: 2, routing: { enabled: true, interval: 50, stale: 1000, snapshot_interval: 5000 }, usage: { share: true, interval: 250, stream_max_age: 3_600_000, stream_max_len: 200_000 } });
  assert.throws(() => parseConfigText(JSON.stringify({ ...base, state: { redis: 'redis://r:6379', usage: { stream_max_age: '10s' } } }), 'x'), /at least 1m/);
  assert.throws(() => parseConfigText(JSON.stringify({ ...base, state: { redis: 'http://r' } }), 'x'), /redis:\/\//);
  assert.throws(() => parseConfigText(JSON.stringify({ ...base, state: { sync_interval: '1s', lease_ttl: '2s' } }), 'x'), /three sync intervals/);
});
