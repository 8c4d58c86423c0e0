import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

export interface GatewayProc {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** The supervisor's worker processes, by pid. */
  workers(): number[];
  /** Resolves with the exit code (or signal) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** Kills whatever is left (the process group) and removes the temp dir. */
  cleanup(): Promise<void>;
}

/** A temp dir with the config written as JSON (which is YAML), and the path of the config file. */
export async function tempConfig(doc: (dir: string) => Record<string, unknown>): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'infergate-scale-'));
  const file = join(dir, 'config.yaml');
  await writeFile(file, JSON.stringify(doc(dir), null, 2));
  return { dir, file };
}

/**
 * Starts `infergate --config FILE` as its own process (group) and waits for its banner. `entry`: the Node arguments
 * that run the gateway (default: the sources through tsx; the benchmarks pass the compiled build).
 */
export async function startGatewayProc(dir: string, file: string, entry: readonly string[] = ['--import', 'tsx', join(ROOT, 'src/main.ts')]): Promise<GatewayProc> {
  const child = spawn(process.execPath, [...entry, '--config', file], {
    cwd: ROOT, // tsx resolves from here; every path the tests' configs use is absolute
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | string>((r) => child.once('exit', (code, sig) => r(code ?? sig ?? -1)));
  const port = await new Promise<number>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`no banner in 30 s:\n${out}`)), 30_000);
    const check = () => {
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        res(Number(m[1]));
      }
    };
    child.stdout!.on('data', check);
    void exited.then(() => rej(new Error(`exited before listening:\n${out}`)));
  });
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    dir,
    output: () => out,
    workers: () => {
      try {
        return execFileSync('pgrep', ['-P', String(child.pid), '-f', 'main\\.[tj]s'], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
      } catch {
        return [];
      }
    },
    exited,
    async cleanup() {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One chat completion on a fresh connection (so the kernel spreads them over the workers); resolves to the status. */
export async function chat(url: string, headers: Record<string, string> = {}, model = 'sim-llama-8b'): Promise<number> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', connection: 'close', ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 }),
    // A connection handed to a worker at the instant it is killed is never answered: without this the client would
    // wait for undici's five-minute header timeout.
    signal: AbortSignal.timeout(15_000),
  });
  await res.arrayBuffer();
  return res.status;
}
