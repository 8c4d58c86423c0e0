import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { createLineBuffer } from '../../src/telemetry/line-buffer.js';

test('hands sonic-boom whole lines in batches of at most PIPE_BUF bytes, in order, all of them', async () => {
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
    const lines = createLineBuffer(boom, 100);
    const want: string[] = [];
    for (let i = 0; i < 400; i++) {
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
    // Each batch is whole lines; only a line that is itself longer than PIPE_BUF goes alone in a larger write.
    let offset = 0;
    const bytes = Buffer.from(text);
    for (const size of sizes) {
      offset += size;
      assert.equal(bytes[offset - 1], 0x0a, 'a batch ends with a whole line');
      if (size > 4096) assert.equal(bytes.subarray(offset - size, offset).indexOf(0x0a), size - 1, 'a large write is one line');
    }
    assert.equal(offset, bytes.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
