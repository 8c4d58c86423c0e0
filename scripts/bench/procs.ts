/**
 * Child processes of the benchmark: spawned (pinned to a CPU when taskset exists), awaited until ready, measured
 * through /proc, and always stopped, on success, on error and on Ctrl-C.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  /** The last lines of its stderr/log, for error messages. */
  tail(): string;
}

const children = new Set<Child>();

export const HAS_TASKSET = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
export const CPU_COUNT = (() => {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((l) => l.startsWith('processor')).length || 1;
  } catch {
    return 1;
  }
})();
/** Pinning needs taskset and two cores: the proxy under test on its own core, everything else on the other. */
export const PINNED = HAS_TASKSET && CPU_COUNT >= 2;
export const PROXY_CPU = CPU_COUNT - 1;
export const DRIVER_CPU = 0;

/** Pins this process (all its threads) to the driver core, so the load generator never steals the proxy's core. */
export function pinSelf(): boolean {
  if (!PINNED) return false;
  return spawnSync('taskset', ['-a', '-p', '-c', String(DRIVER_CPU), String(process.pid)], { stdio: 'ignore' }).status === 0;
}

export interface SpawnOptions {
  name: string;
  command: string;
  args: string[];
  /** CPU to pin to (ignored when pinning is not available). */
  cpu?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout+stderr go to this file (cheap for the child, no pipe for the parent to drain); default: a pipe. */
  logFile?: string;
  /** Keep stdin as a pipe (the child exits when it closes). */
  stdinPipe?: boolean;
}

export function spawnChild(o: SpawnOptions): Child {
  const pinned = PINNED && o.cpu !== undefined;
  const command = pinned ? 'taskset' : o.command;
  const args = pinned ? ['-c', String(o.cpu), o.command, ...o.args] : o.args;
  const logFd = o.logFile ? openSync(o.logFile, 'w') : null;
  const proc = spawn(command, args, {
    cwd: o.cwd,
    env: o.env ?? process.env,
    stdio: [o.stdinPipe ? 'pipe' : 'ignore', logFd ?? 'pipe', logFd ?? 'pipe'],
  });
  if (logFd !== null) closeSync(logFd);
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
  };
  proc.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  if (proc.pid === undefined) throw new Error(`could not start ${o.name} (${o.command})`);
  // taskset execs the command, so the pid is the command's own.
  const child: Child = {
    name: o.name,
    proc,
    pid: proc.pid,
    exited,
    tail: () => {
      if (!o.logFile) return tail;
      try {
        return readFileSync(o.logFile, 'utf8').slice(-4000);
      } catch {
        return '';
      }
    },
  };
  children.add(child);
  void exited.then(() => children.delete(child));
  return child;
}

/** Resolves with the first stdout line matching `re` (its match), rejects on exit or timeout. */
export function waitForLine(child: Child, re: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => done(new Error(`${child.name} did not become ready in ${timeoutMs} ms:\n${child.tail()}`)), timeoutMs);
    const onData = (d: Buffer) => {
      buf += d.toString();
      const m = re.exec(buf);
      if (m) done(null, m);
    };
    const onExit = () => done(new Error(`${child.name} exited before it was ready:\n${child.tail()}`));
    const done = (err: Error | null, m?: RegExpMatchArray) => {
      clearTimeout(timer);
      child.proc.stdout?.off('data', onData);
      child.proc.off('exit', onExit);
      if (err) reject(err);
      else resolve(m!);
    };
    child.proc.stdout?.on('data', onData);
    child.proc.once('exit', onExit);
  });
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Polls until `check` is true (or the child exits, or the time is up). */
export async function waitUntil(child: Child, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let gone = false;
  void child.exited.then(() => (gone = true));
  while (Date.now() < end) {
    if (gone) throw new Error(`${child.name} exited before it was ready:\n${child.tail()}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${child.name} did not become ready in ${timeoutMs} ms:\n${child.tail()}`);
}

export function waitForPort(child: Child, port: number, timeoutMs?: number): Promise<void> {
  return waitUntil(child, () => tryConnect(port), timeoutMs);
}

/** A free TCP port on 127.0.0.1 (closed again before it is returned; the race is acceptable for a benchmark). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function stopChild(child: Child, graceMs = 3000): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c)));
}

let handlersInstalled = false;
/** Ctrl-C / SIGTERM / a crash: stop every child we started (by pid), then exit. */
export function installCleanup(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\n${sig}: stopping child processes...\n`);
    const hard = setTimeout(() => process.exit(130), 5000);
    hard.unref();
    void stopAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  });
}

export interface ProcMemory {
  /** Peak resident set (VmHWM), MB. */
  peakMb: number;
  /** Current resident set (VmRSS), MB. */
  rssMb: number;
  /** Of the current resident set: anonymous memory (V8 heaps, malloc arenas, SQLite's page caches, stacks), MB. */
  anonMb: number;
  /** Of the current resident set: file-backed pages (the node binary's code, shared libraries), MB. */
  fileMb: number;
  /** Threads (the event loop, libuv's pool, V8's platform workers, worker_threads). */
  threads: number;
}

export function readMemory(pid: number): ProcMemory | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? Number.NaN);
    const threads = Number(/^Threads:\s+(\d+)/m.exec(s)?.[1] ?? Number.NaN);
    return { peakMb: kb('VmHWM') / 1024, rssMb: kb('VmRSS') / 1024, anonMb: kb('RssAnon') / 1024, fileMb: kb('RssFile') / 1024, threads };
  } catch {
    return null;
  }
}

/**
 * CPU seconds used so far by every process on the machine that is not this benchmark: not this process, its
 * ancestors (npm, tsx), any descendant (children and theirs) or a kernel thread. Read from /proc per process, so
 * kernel time spent on our own loopback traffic is not mistaken for another job.
 */
export function foreignCpuSnapshot(): Map<number, number> | null {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const d of pids) {
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(d), Number(rest[1]));
      cpu.set(Number(d), (Number(rest[11]) + Number(rest[12])) / CLK_TCK);
    } catch {
      // The process ended between readdir and read.
    }
  }
  const ancestors = new Set<number>();
  for (let p = process.pid; p > 1 && !ancestors.has(p); p = parent.get(p) ?? 0) ancestors.add(p);
  const isOurs = (pid: number): boolean => {
    if (ancestors.has(pid)) return true;
    for (let p = parent.get(pid) ?? 0, hops = 0; p > 1 && hops < 64; p = parent.get(p) ?? 0, hops++) if (p === process.pid) return true;
    return false;
  };
  const foreign = new Map<number, number>();
  // Kernel threads (children of kthreadd, pid 2) are left out too: ksoftirqd moving our own loopback packets is ours.
  for (const [pid, secs] of cpu) if (pid !== 2 && parent.get(pid) !== 2 && !isOurs(pid)) foreign.set(pid, secs);
  return foreign;
}

/**
 * CPU seconds other processes used between two snapshots, per process, so that one exiting meanwhile does not make
 * the total negative (its last interval is missed instead: a lower bound); a new one counts from zero.
 */
export function foreignCpuSeconds(before: Map<number, number> | null, after: Map<number, number> | null): number | null {
  if (!before || !after) return null;
  let total = 0;
  for (const [pid, secs] of after) total += Math.max(0, secs - (before.get(pid) ?? 0));
  return total;
}

const CLK_TCK = 100;
/** CPU seconds (user + system) the process has used, from /proc/PID/stat; null when unavailable. */
/** CPU seconds of a process (all threads), or of one thread with `tid` (the main thread's tid is the pid). */
export function readCpuSeconds(pid: number, tid?: number): number | null {
  try {
    const s = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return (utime + stime) / CLK_TCK;
  } catch {
    return null;
  }
}
