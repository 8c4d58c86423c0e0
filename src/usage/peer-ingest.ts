import type { PeerBatch } from './peer-rows.js';
import type { UsageSink } from './sqlite-sink.js';

/**
 * The writer's peer batches in flight to its thread: each resolves with the rows it inserted once its transaction
 * committed, or rejects (the caller re-reads from the cursor it last saw committed: nothing is lost, and what was
 * committed twice is ignored by the origin key).
 */
export interface IngestWaits {
  /** A new batch's sequence number and the promise of its result. */
  add(): { seq: number; done: Promise<number> };
  settle(seq: number, inserted: number | Error): void;
  /** Every batch still waiting fails (the thread is gone, the writer closes). */
  failAll(why: string): void;
}

export function createIngestWaits(): IngestWaits {
  const waiting = new Map<number, { resolve: (n: number) => void; reject: (e: Error) => void }>();
  let next = 0;
  return {
    add() {
      const seq = ++next;
      const done = new Promise<number>((resolve, reject) => waiting.set(seq, { resolve, reject }));
      return { seq, done };
    },
    settle(seq, inserted) {
      const w = waiting.get(seq);
      if (!w) return;
      waiting.delete(seq);
      if (inserted instanceof Error) w.reject(inserted);
      else w.resolve(inserted);
    },
    failAll(why) {
      for (const w of waiting.values()) w.reject(new Error(why));
      waiting.clear();
    },
  };
}

/** An ingest on the calling thread (no writer thread): committed or refused before it returns. */
export function ingestNow(sink: Pick<UsageSink, 'ingest'>, b: PeerBatch, committed: (rows: number) => void): Promise<number> {
  try {
    const n = sink.ingest(b.values, b.state);
    committed(n);
    return Promise.resolve(n);
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
