import type { IncomingMessage } from 'node:http';
import type { UsageRow, UsageWriter } from '../usage/index.js';

/** The gateway's id for a pipeline request, set on its IncomingMessage so a protocol-level refusal can name it. */
export const REQUEST_ID = Symbol('infergate.requestId');
export type Tagged = IncomingMessage & { [REQUEST_ID]?: string };

/**
 * Pipeline requests whose body stopped arriving and were answered 408 by the server (Node's requestTimeout). The
 * pipeline, still waiting for the body, then sees a closed request and records its row as a 400; the row is
 * corrected to what the client was told. Holds an id only between the refusal and that row, so it stays tiny.
 */
const MAX_PENDING = 10_000;

export class TimedOutRequests {
  readonly #ids = new Set<string>();
  readonly add = (id: string): void => {
    // A bound, whatever happens to the rows: a request that never records one must not leave its id here forever.
    if (this.#ids.size >= MAX_PENDING) this.#ids.clear();
    this.#ids.add(id);
  };
  /** The row as the client saw it. The common case (no timeouts pending) costs one size check. */
  readonly correct = (row: UsageRow): UsageRow => {
    if (this.#ids.size === 0 || !this.#ids.delete(row.id)) return row;
    return { ...row, status: 408, errorCode: 'request_timeout' };
  };
}

/**
 * The usage writer as the pipeline sees it: rows pass through `correct` first. An object whose prototype is the writer
 * with its own `record` (no Proxy: record runs once per request); the pipeline calls nothing else. Null stays null.
 */
export function withTimedOutRows(usage: UsageWriter | null, timedOut: TimedOutRequests): UsageWriter | null {
  if (!usage) return null;
  const view = Object.create(usage) as UsageWriter;
  Object.defineProperty(view, 'record', { value: (row: UsageRow) => usage.record(timedOut.correct(row)) });
  return view;
}
