import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { batchBytesFor, createLineBuffer, LARGE_BATCH_BYTES, PIPE_BATCH_BYTES } from '../../src/telemetry/line-buffer.js';

for (const capacity of [PIPE_BATCH_BYTES, LARGE_BATCH_BYTES]) {
test(`hands sonic-boom whole lines in batches of at most ${capacity} bytes, in order, all of them`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'infergate-lines-'));
  try {
    const path = join(dir, 'out.log');
    const fd = openSync(path, 'w');
    const boom = pino.destination({ dest: fd, sync: true, minLength: 0, contentMode: 'buffer' });
    // Records the size of each batch on its way into the real sonic-boom.
    const sizes: number[] = [];
    const write = boom.write.bind(boom);
    boom.write = (data: string) => {
      sizes.push(Buffer.byteLength(data));
      return write(data);
    };
    const lines = createLineBuffer(boom, 100, capacity);
    const want: string[] = [];
    for (let i = 0; i < (capacity > PIPE_BATCH_BYTES ? 4000 : 400); i++) {
      // ASCII, two- and four-byte UTF-8, and a few lines longer than a batch.
      const body = i % 97 === 5 ? 'x'.repeat(5000) : `${i} ${'é'.repeat(i % 40)} ${'🚀'.repeat(i % 7)} ${'a'.repeat((i * 37) % 700)}`;
      const line = `{"n":${i},"s":"${body}"}\n`;
      want.push(line);
      lines.write(line);
    }
    await new Promise<void>((resolve, reject) => lines.flush((err) => (err ? reject(err) : resolve())));
    closeSync(fd);
    const text = readFileSync(path, 'utf8');
    assert.equal(text, want.join(''));
    assert.ok(sizes.length > 20, `${sizes.length} batches`);
    // Each batch is whole lines; only a line that is itself longer than a batch goes alone in a larger write.
    let offset = 0;
    const bytes = Buffer.from(text);
    for (const size of sizes) {
      offset += size;
      assert.equal(bytes[offset - 1], 0x0a, 'a batch ends with a whole line');
      if (size > capacity) assert.equal(bytes.subarray(offset - size, offset).indexOf(0x0a), size - 1, 'a large write is one line');
    }
    assert.equal(offset, bytes.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
}

test('batches are PIPE_BUF only for a pipe or device shared with other processes; larger for a file or an unshared pipe', () => {
  const dir = mkdtempSync(join(tmpdir(), 'infergate-lines-'));
  const fds: number[] = [];
  try {
    fds.push(openSync(join(dir, 'out.log'), 'w'));
    assert.equal(batchBytesFor(fds[0]!, true), LARGE_BATCH_BYTES, 'writes to one regular file land whole');
    assert.equal(batchBytesFor(fds[0]!, false), LARGE_BATCH_BYTES);
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    // r+ opens a FIFO without waiting for a reader (Linux).
    fds.push(openSync(join(dir, 'fifo'), 'r+'));
    assert.equal(batchBytesFor(fds[1]!, true), PIPE_BATCH_BYTES);
    assert.equal(batchBytesFor(fds[1]!, false), LARGE_BATCH_BYTES, 'a pipe this process writes alone');
    fds.push(openSync('/dev/null', 'w'));
    assert.equal(batchBytesFor(fds[2]!, true), PIPE_BATCH_BYTES);
    assert.equal(batchBytesFor(987654, true), PIPE_BATCH_BYTES, 'a descriptor that is not open');
  } finally {
    for (const fd of fds) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});
