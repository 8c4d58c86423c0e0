import type { Worker } from 'node:cluster';
import type { Logger } from './logger.js';

/** How long workers have to compile a new config before the reload is abandoned (none of them applies it). */
const PREPARE_TIMEOUT_MS = 10_000;

/**
 * Two-phase reload across workers: every worker compiles the same config text and answers; only when all have
 * compiled it are they told to apply it, else all drop it. So workers never serve two configs after a reload (apart
 * from the instant between their commits).
 */
export function createReloadFanout(opts: { logger: Logger; workers: () => Worker[] }) {
  let seq = 0;
  const waiting = new Map<number, { left: Set<number>; failed: string[]; done: () => void }>();
  let chain: Promise<void> = Promise.resolve();

  const run = async (text: string): Promise<boolean> => {
    const id = ++seq;
    const workers = opts.workers();
    const state = { left: new Set(workers.map((w) => w.id)), failed: [] as string[], done: () => {} };
    const answered = new Promise<void>((resolve) => {
      state.done = resolve;
      if (state.left.size === 0) resolve();
    });
    waiting.set(id, state);
    for (const w of workers) w.send({ ig: 'reload-prepare', id, text });
    const timer = setTimeout(() => {
      state.failed.push(`${state.left.size} worker(s) did not answer in time`);
      state.done();
    }, PREPARE_TIMEOUT_MS);
    await answered;
    clearTimeout(timer);
    waiting.delete(id);
    const ok = state.failed.length === 0;
    // An abort carries the problems: the workers serve /metrics and the console, so they count the failure and show it
    // as `last reload error` (as they do for a file the supervisor's own validation refused).
    for (const w of workers) if (!w.isDead()) w.send(ok ? { ig: 'reload-commit', id } : { ig: 'reload-abort', id, problems: state.failed });
    if (ok) {
      // No worker serving yet (all starting or restarting): they ask for the config when they start, and get this one.
      const text = workers.length > 0 ? `config reloaded in all ${workers.length} workers` : 'config accepted; the workers starting will run it';
      opts.logger.info({ event: 'config_reloaded_all', workers: workers.length }, text);
    }
    else opts.logger.error({ event: 'config_reload_failed', problems: state.failed }, 'config reload failed in a worker; no worker applies it');
    return ok;
  };

  return {
    /** Reloads run one after another; true when every worker applied the text. */
    run(text: string): Promise<boolean> {
      const result = chain.then(() => run(text));
      chain = result.then(() => undefined);
      return result;
    },
    onMessage(w: Worker, m: unknown) {
      const msg = m as { ig?: string; id?: number; ok?: boolean; error?: string };
      if (msg.ig !== 'reload-prepared' || typeof msg.id !== 'number') return;
      const s = waiting.get(msg.id);
      if (!s || !s.left.delete(w.id)) return;
      if (!msg.ok) s.failed.push(`worker ${w.id}: ${msg.error ?? 'failed'}`);
      if (s.left.size === 0) s.done();
    },
  };
}
