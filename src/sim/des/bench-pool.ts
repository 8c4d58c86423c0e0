import { fork, type ChildProcess } from 'node:child_process';
import type { BenchJob, BenchSummary } from './bench-job.js';

interface Pending {
  readonly job: BenchJob;
  readonly resolve: (s: BenchSummary) => void;
  readonly reject: (e: Error) => void;
}

/**
 * A pool of child processes running benchmark jobs (worker threads would not inherit tsx's loader). Jobs are queued
 * and handed to whichever child is idle, so independent searches overlap on both cores.
 */
export class BenchPool {
  #children: ChildProcess[] = [];
  #idle: ChildProcess[] = [];
  #queue: Pending[] = [];
  #inflight = new Map<number, Pending>();
  #busy = new Map<ChildProcess, number>();
  #nextId = 0;

  constructor(size: number) {
    const entry = new URL('./bench-worker.ts', import.meta.url);
    for (let i = 0; i < size; i++) {
      const child = fork(entry, [], { execArgv: ['--import', 'tsx'], serialization: 'advanced' });
      child.on('message', (msg: unknown) => this.#onMessage(child, msg as { id: number; summary?: BenchSummary; error?: string }));
      child.on('exit', (code) => {
        const id = this.#busy.get(child);
        if (id !== undefined && code !== 0) this.#inflight.get(id)?.reject(new Error(`bench worker exited with ${code}`));
      });
      this.#children.push(child);
      this.#idle.push(child);
    }
  }

  run(job: BenchJob): Promise<BenchSummary> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ job, resolve, reject });
      this.#drain();
    });
  }

  close(): void {
    for (const c of this.#children) c.kill();
  }

  #drain(): void {
    while (this.#idle.length > 0 && this.#queue.length > 0) {
      const child = this.#idle.pop() as ChildProcess;
      const p = this.#queue.shift() as Pending;
      const id = this.#nextId++;
      this.#inflight.set(id, p);
      this.#busy.set(child, id);
      child.send({ id, job: p.job });
    }
  }

  #onMessage(child: ChildProcess, msg: { id: number; summary?: BenchSummary; error?: string }): void {
    const p = this.#inflight.get(msg.id);
    this.#inflight.delete(msg.id);
    this.#busy.delete(child);
    this.#idle.push(child);
    if (p) {
      if (msg.summary) p.resolve(msg.summary);
      else p.reject(new Error(msg.error ?? 'bench worker failed'));
    }
    this.#drain();
  }
}
