/**
 * The usage log's checkpoint thread, used when rows are committed on the gateway's event loop (one core): it copies
 * the WAL back into the database file on request, so that copy and its fsyncs never hold the event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openUsageDb } from './db.js';
import type { CheckpointEvent } from './writer-protocol.js';

const { path } = workerData as { path: string };
const db = openUsageDb(path, { busyTimeoutMs: 1000 });
const port = parentPort!;
/** Pause between passes while the gateway keeps appending. */
const AGAIN_MS = 10;
const MAX_PASSES = 20;
let pending: NodeJS.Timeout | null = null;
let failing = false;

/**
 * PASSIVE passes copy what they can without waiting for, or blocking, the gateway's writes. The WAL is reused from
 * its start only after a pass has copied every frame, so a pass that raced new commits is followed by short ones
 * (each copies only what was appended meanwhile) until one catches up.
 */
function pass(left: number): void {
  pending = null;
  let done = true;
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[];
    done = r === undefined || r.checkpointed >= r.log;
    failing = false;
  } catch (err) {
    // Reported once per failure streak; the next request tries again, and the WAL keeps every row meanwhile.
    if (!failing) port.postMessage({ kind: 'failing', message: err instanceof Error ? err.message : String(err) } satisfies CheckpointEvent);
    failing = true;
  }
  if (!done && left > 1) pending = setTimeout(pass, AGAIN_MS, left - 1);
}

port.on('message', () => {
  if (pending === null) pass(MAX_PASSES);
});
port.postMessage({ kind: 'ready' } satisfies CheckpointEvent);
