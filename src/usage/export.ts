import { openUsageDb } from './db.js';
import { csvCell } from './query.js';

export const EXPORT_FORMATS = ['csv', 'jsonl'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportQuery {
  /** Epoch ms, inclusive. */
  fromMs: number;
  /** Epoch ms, exclusive. */
  toMs: number;
  format: ExportFormat;
}

/** The usage view's columns, in order, with the time also as ISO 8601 after time_ms. */
const COLUMNS = [
  'id', 'request_id', 'time_ms', 'subject', 'team', 'key', 'requested_model', 'upstream_model', 'backend', 'endpoint', 'stream', 'status',
  'error_code', 'prompt_tokens', 'completion_tokens', 'cached_tokens', 'token_source', 'ttft_ms', 'latency_ms',
] as const;
const HEADER = ['id', 'request_id', 'time_ms', 'time', ...COLUMNS.slice(3)];
/** Text per chunk handed to the consumer: big enough to amortise a write, small enough to keep memory flat. */
const CHUNK_CHARS = 64 * 1024;

/** JSON.stringify leaves these raw; a JavaScript parser before ES2019 and many line-oriented tools take them as line ends. */
const LINE_SEPARATORS = /[\u2028\u2029]/g;

function jsonLine(o: Record<string, unknown>): string {
  return JSON.stringify(o).replace(LINE_SEPARATORS, (c) => (c === '\u2028' ? '\\u2028' : '\\u2029'));
}

/**
 * Raw usage rows in [from, to), oldest first, as CSV (RFC 4180, with a header) or JSON lines, in chunks of about
 * 64 KiB. Rows are read one at a time from a read-only connection of its own (a statement iterating on the writer's
 * connection would lock it against writes) as the consumer pulls, so memory stays flat however long the range.
 * Stopping early (`return()`, e.g. a client that went away) closes the connection. While an export runs, its read
 * snapshot keeps the WAL from being reset: exports of months are better run off-peak.
 */
export function* exportUsage(path: string, q: ExportQuery): Generator<string, void, undefined> {
  const db = openUsageDb(path, { readonly: true });
  try {
    // ORDER BY time_ms walks the time index in order: no sort, nothing held.
    const rows = db
      .prepare<[number, number]>(`SELECT ${COLUMNS.map((c) => `"${c}"`).join(', ')} FROM usage WHERE time_ms >= ? AND time_ms < ? ORDER BY time_ms, id`)
      .raw(true)
      .iterate(Math.floor(q.fromMs), Math.ceil(q.toMs)) as IterableIterator<unknown[]>;
    let chunk = q.format === 'csv' ? `${HEADER.join(',')}\r\n` : '';
    for (const r of rows) {
      const time = new Date(r[2] as number).toISOString();
      if (q.format === 'csv') {
        chunk += `${r[0]},${csvCell(r[1])},${r[2]},${time}`;
        for (let i = 3; i < r.length; i++) chunk += `,${csvCell(r[i])}`;
        chunk += '\r\n';
      } else {
        const o: Record<string, unknown> = {};
        COLUMNS.forEach((c, i) => (o[c] = r[i]));
        o.time = time;
        chunk += `${jsonLine(o)}\n`;
      }
      if (chunk.length >= CHUNK_CHARS) {
        yield chunk;
        chunk = '';
      }
    }
    if (chunk.length > 0) yield chunk;
  } finally {
    db.close();
  }
}
