// Writes usage batches through the sink and prints the files SQLite created in its temporary directory meanwhile
// (run with SQLITE_TMPDIR set). Opening and closing are left out: a migration may use a temporary file once.
import { watch } from 'node:fs';
import { openUsageDb } from '../../src/usage/index.js';
import { createSqliteSink, pushRow } from '../../src/usage/sqlite-sink.js';
import { row, T0 } from './fixtures.js';

const [path, batches] = process.argv.slice(2) as [string, string];
const db = openUsageDb(path);
const sink = createSqliteSink(db, { now: () => T0 });
const created = new Set<string>();
const watcher = watch(process.env.SQLITE_TMPDIR!, (_event, name) => created.add(String(name)));
let n = 0;
for (let b = 0; b < Number(batches); b++) {
  const values: unknown[] = [];
  for (let i = 0; i < 256; i++) pushRow(values, row({ id: `req_${++n}`, timeMs: T0 + n }));
  sink.write(values);
}
// inotify queued the events while the writes held the loop; they arrive now.
await new Promise((r) => setTimeout(r, 200));
watcher.close();
sink.close();
db.close();
process.stdout.write(`${JSON.stringify({ rows: n, created: [...created] })}\n`);
