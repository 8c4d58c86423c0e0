import type { IncomingMessage } from 'node:http';
import type { UsageRow, UsageWriter } from '../usage/index.js';

/** The gateway's id for a pipeline request, set on its IncomingMessage so a protocol-level refusal can name it. */
export const REQUEST_ID = Symbol('infergate.requestId');
export type Tagged = IncomingMessage & { [REQUEST_ID]?: string };

/**
 * Pipeline requests refused by the HTTP parser while their body was arriving (408 when it stopped arriving, 413 for
 * oversized chunk extensions). The pipeline, still waiting for the body, then sees a closed request and records its
 * row as a 400; the row is corrected to what the client was told. Holds an id only between the refusal and that
 * row, so it stays tiny.
 */
const MAX_PENDING = 10_000;

export class TimedOutRequests {
  readonly #refused = new Map<string, { status: number; code: string }>();
  readonly add = (id: string, status: number, code: string): void => {
    // A bound, whatever happens to the rows: a request that never records one must not leave its id here forever.
    if (this.#refused.size >= MAX_PENDING) this.#refused.clear();
    this.#refused.set(id, { status, code });
  };
  /** The row as the client saw it. The common case (no refusals pending) costs one size check. */
  readonly correct = (row: UsageRow): UsageRow => {
    if (this.#refused.size === 0) return row;
    const r = this.#refused.get(row.id);
    if (r === undefined) return row;
    this.#refused.delete(row.id);
    return { ...row, status: r.status, errorCode: r.code };
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
