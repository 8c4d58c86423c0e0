import type { Scheduler, SchedulerHandle } from '../engine/types.js';

interface Entry {
  readonly id: number;
  readonly at: number;
  /** Insertion order: events at the same instant run first-scheduled first, which keeps runs deterministic. */
  readonly seq: number;
  fn: (() => void) | null;
}

/**
 * A virtual clock for discrete-event runs: `at` pushes onto a binary min-heap keyed by (time, insertion order) and
 * `run` pops events in order, jumping the clock. Cancelled entries are dropped lazily when they reach the top.
 */
export class VirtualScheduler implements Scheduler {
  #now = 0;
  #seq = 0;
  #heap: Entry[] = [];
  #live = new Map<number, Entry>();
  #processed = 0;

  now(): number {
    return this.#now;
  }

  get pending(): number {
    return this.#live.size;
  }

  /** Events run so far (a cost measure for the benchmark). */
  get processed(): number {
    return this.#processed;
  }

  at(atMs: number, fn: () => void): SchedulerHandle {
    const id = ++this.#seq;
    const e: Entry = { id, at: Math.max(atMs, this.#now), seq: id, fn };
    this.#live.set(id, e);
    this.#push(e);
    return { id };
  }

  cancel(handle: SchedulerHandle): void {
    const e = this.#live.get(handle.id);
    if (!e) return;
    e.fn = null;
    this.#live.delete(handle.id);
  }

  /** Runs events until none is left or the next one is later than `untilMs`; returns the number run. */
  run(untilMs = Number.POSITIVE_INFINITY): number {
    let n = 0;
    for (;;) {
      const top = this.#heap[0];
      if (!top) break;
      if (top.at > untilMs) break;
      this.#pop();
      const fn = top.fn;
      if (!fn) continue;
      this.#live.delete(top.id);
      this.#now = top.at;
      n++;
      fn();
    }
    if (untilMs !== Number.POSITIVE_INFINITY && untilMs > this.#now) this.#now = untilMs;
    this.#processed += n;
    return n;
  }

  #less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #push(e: Entry): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = h[p] as Entry;
      if (!this.#less(e, pe)) break;
      h[i] = pe;
      i = p;
    }
    h[i] = e;
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop() as Entry;
    if (h.length === 0) return;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.#less(h[r] as Entry, h[l] as Entry)) c = r;
      if (!this.#less(h[c] as Entry, last)) break;
      h[i] = h[c] as Entry;
      i = c;
    }
    h[i] = last;
  }
}
