import { fstatSync } from 'node:fs';
import type { pino } from 'pino';
import type { LineBytes } from './line-bytes.js';

/** pino's destination (a sonic-boom instance), typed through pino so sonic-boom stays pino's dependency. */
type Boom = ReturnType<typeof pino.destination>;

/**
 * Log lines gathered into one preallocated Buffer and handed to sonic-boom (in buffer mode) when it fills, at most
 * `flushMs` after the first line of a batch, and on flush/exit.
 *
 * Why not sonic-boom's own batching (`minLength`): in its string mode every write measures the whole pending batch
 * with `Buffer.byteLength`, flattening and scanning up to `minLength` bytes per line, then re-encodes the batch on
 * write; its buffer mode wants a Buffer per line. Measured on one core for a 600-byte request line: ~1.5 µs per line
 * through the string mode, ~0.9 through a Buffer per line, ~0.2 µs here (one UTF-8 encode into the batch).
 * sonic-boom still does the writing: partial writes, EAGAIN retries, EPIPE (through pino.destination), flushSync.
 *
 * Every line of the process (request lines and pino's own) goes through one LineBuffer, so their order is kept.
 */
export interface LineBuffer {
  write(line: string): boolean;
  /**
   * A line written in place: room for `max` bytes is made at the end of the batch (handing the batch over first when
   * short) and `into` points there; the caller writes, then commits. False when a line that long could not fit in a
   * batch at all (write it as a string instead).
   */
  begin(into: LineBytes, max: number): boolean;
  commit(into: LineBytes): void;
  /** Hands the pending batch to sonic-boom, then lets it finish writing (`cb` when done). */
  flush(cb?: (err?: Error | null) => void): void;
  /** Writes everything out before returning (exit, fatal). */
  flushSync(): void;
}

/**
 * PIPE_BUF: a write of at most this many bytes to a pipe is atomic, so the workers of `server.workers`, which share
 * the supervisor's stdout, never interleave parts of their lines. A batch holds about six request lines.
 */
export const PIPE_BATCH_BYTES = 4096;

/**
 * Where no other process can split a line (a regular file, where Linux serialises writes to one open file, or a pipe
 * this process writes alone), batches are larger. Measured at max load on one pinned core, logging to a file: each
 * write(2) cost the gateway an involuntary context switch, and 4 KiB batches (~1,700 writes/s) added ~12 µs CPU per
 * request against ~0-5 with 64 KiB ones (bench/NOTES.md, "The request log's writes").
 */
export const LARGE_BATCH_BYTES = 65536;

/** The batch size for a descriptor: PIPE_BUF only for a pipe, socket or device other processes write to as well. */
export function batchBytesFor(fd: number, shared: boolean): number {
  if (!shared) return LARGE_BATCH_BYTES;
  try {
    return fstatSync(fd).isFile() ? LARGE_BATCH_BYTES : PIPE_BATCH_BYTES;
  } catch {
    return PIPE_BATCH_BYTES;
  }
}

export function createLineBuffer(boom: Boom, flushMs: number, capacity = PIPE_BATCH_BYTES): LineBuffer {
  let buf = Buffer.allocUnsafeSlow(capacity);
  let used = 0;
  let timer: NodeJS.Timeout | null = null;

  function handOver(): void {
    if (used === 0) return;
    // sonic-boom may keep the Buffer (a partial write, or a write still in progress), so a fresh one takes its place.
    const batch = buf.subarray(0, used);
    buf = Buffer.allocUnsafeSlow(capacity);
    used = 0;
    writeBuffer(boom, batch);
  }

  const onTimer = (): void => {
    timer = null;
    handOver();
  };

  function write(line: string): boolean {
    // A UTF-16 code unit is at most 3 UTF-8 bytes: most lines fit without measuring them; near the end, measured.
    if (used + line.length * 3 > capacity) {
      const bytes = Buffer.byteLength(line);
      if (used + bytes > capacity) {
        handOver();
        if (bytes > capacity) {
          writeBuffer(boom, Buffer.from(line));
          return true;
        }
      }
    }
    used += buf.write(line, used);
    arm();
    return true;
  }

  function arm(): void {
    if (timer === null) {
      timer = setTimeout(onTimer, flushMs);
      timer.unref();
    }
  }

  return {
    write,
    begin(into, max) {
      if (max > capacity) return false;
      if (used + max > capacity) handOver();
      into.buf = buf;
      into.at = used;
      return true;
    },
    commit(into) {
      used = into.at;
      arm();
    },
    flush(cb) {
      handOver();
      boom.flush(cb ?? (() => {}));
    },
    flushSync() {
      handOver();
      boom.flushSync();
    },
  };
}

/** In buffer mode sonic-boom's `write` takes Buffers; its type declares only the string form. */
function writeBuffer(boom: Boom, data: Buffer): void {
  (boom.write as unknown as (this: Boom, data: Buffer) => boolean).call(boom, data);
}
