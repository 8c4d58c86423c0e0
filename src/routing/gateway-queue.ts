/**
 * The bounded gateway queue used when every candidate is saturated: shortest predicted service first, with aging.
 * Priority = serviceMs − aging·waitedMs. Since waitedMs = now − enqueuedAt, that is (serviceMs + aging·enqueuedAt)
 * − aging·now, and the last term is the same for everyone: the order never changes while items wait, so a plain
 * binary heap on (serviceMs + aging·enqueuedAt) implements aging exactly. With aging = 1, a request that has waited
 * longer than the service-time gap to a newcomer goes first, which bounds starvation of long prompts.
 */
export interface QueueOptions {
  /** Items beyond this are refused at once (429). */
  readonly maxQueued?: number;
  /** A request waiting longer than this is refused (429 with Retry-After). */
  readonly maxWaitMs?: number;
  /** ms of priority gained per ms waited. */
  readonly aging?: number;
}

export interface QueueItem<T> {
  readonly payload: T;
  readonly enqueuedAt: number;
  readonly serviceMs: number;
  /** Heap key; set on push. */
  key: number;
  seq: number;
  /** Position in the heap, −1 once removed. */
  pos: number;
}

export class GatewayQueue<T> {
  readonly maxQueued: number;
  readonly maxWaitMs: number;
  readonly aging: number;
  #heap: QueueItem<T>[] = [];
  #seq = 0;

  constructor(options: QueueOptions = {}) {
    this.maxQueued = options.maxQueued ?? 1024;
    this.maxWaitMs = options.maxWaitMs ?? 30_000;
    this.aging = options.aging ?? 1;
  }

  get size(): number {
    return this.#heap.length;
  }

  /** Returns the queued item, or null when the queue is full. */
  push(payload: T, now: number, serviceMs: number): QueueItem<T> | null {
    if (this.#heap.length >= this.maxQueued) return null;
    const item: QueueItem<T> = { payload, enqueuedAt: now, serviceMs, key: serviceMs + this.aging * now, seq: this.#seq++, pos: this.#heap.length };
    this.#heap.push(item);
    this.#up(item.pos);
    return item;
  }

  peek(): QueueItem<T> | undefined {
    return this.#heap[0];
  }

  pop(): QueueItem<T> | undefined {
    const top = this.#heap[0];
    if (top) this.remove(top);
    return top;
  }

  remove(item: QueueItem<T>): boolean {
    const i = item.pos;
    const h = this.#heap;
    if (i < 0 || h[i] !== item) return false;
    const last = h.pop() as QueueItem<T>;
    item.pos = -1;
    if (last !== item) {
      h[i] = last;
      last.pos = i;
      this.#down(i);
      this.#up(last.pos);
    }
    return true;
  }

  /** Items in priority order (for diagnostics and Retry-After estimates); O(n log n). */
  ordered(): QueueItem<T>[] {
    return this.#heap.slice().sort((a, b) => this.#cmp(a, b));
  }

  #cmp(a: QueueItem<T>, b: QueueItem<T>): number {
    return a.key - b.key || a.seq - b.seq;
  }

  #up(i: number): void {
    const h = this.#heap;
    const item = h[i] as QueueItem<T>;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p] as QueueItem<T>;
      if (this.#cmp(item, parent) >= 0) break;
      h[i] = parent;
      parent.pos = i;
      i = p;
    }
    h[i] = item;
    item.pos = i;
  }

  #down(i: number): void {
    const h = this.#heap;
    const n = h.length;
    const item = h[i] as QueueItem<T>;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.#cmp(h[r] as QueueItem<T>, h[l] as QueueItem<T>) < 0) c = r;
      const child = h[c] as QueueItem<T>;
      if (this.#cmp(child, item) >= 0) break;
      h[i] = child;
      child.pos = i;
      i = c;
    }
    h[i] = item;
    item.pos = i;
  }
}
