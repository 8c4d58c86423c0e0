import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * CPUs the cgroup lets this process use: cgroup v2 `cpu.max` ("200000 100000" is two CPUs, "max" no quota), or v1
 * `cpu.cfs_quota_us` / `cpu.cfs_period_us`. Null when there is no quota (or no cgroup filesystem).
 */
export function cgroupCpuQuota(read: (path: string) => string | null = readText): number | null {
  const v2 = read('/sys/fs/cgroup/cpu.max');
  if (v2 !== null) {
    const [quota, period] = v2.trim().split(/\s+/);
    if (quota === 'max' || quota === undefined) return null;
    const q = Number(quota);
    const p = Number(period ?? 100000);
    return q > 0 && p > 0 ? q / p : null;
  }
  const q = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us') ?? NaN);
  const p = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_period_us') ?? NaN);
  return q > 0 && p > 0 ? q / p : null;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/**
 * `server.workers` → a worker count. `auto`: the CPUs this process may run on (affinity and cpuset, which
 * os.availableParallelism follows) capped by the cgroup CPU quota (a Kubernetes CPU limit), rounded down, at least 1.
 */
export function resolveWorkers(setting: 'auto' | number, probe: { cpus?: number; quota?: number | null } = {}): number {
  if (setting !== 'auto') return setting;
  const cpus = probe.cpus ?? availableParallelism();
  const quota = probe.quota !== undefined ? probe.quota : cgroupCpuQuota();
  return Math.max(1, Math.floor(quota === null ? cpus : Math.min(cpus, quota)));
}
