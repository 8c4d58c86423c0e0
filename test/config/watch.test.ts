import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchConfigFile, type ConfigWatcher } from '../../src/config/index.js';

const POLL_MS = 50;
const DEBOUNCE_MS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves at the next change the watcher reports, or null after `ms`. */
function counter(file: string): { watcher: ConfigWatcher; count(): number; next(ms?: number): Promise<boolean> } {
  let n = 0;
  let wake: (() => void) | null = null;
  const watcher = watchConfigFile(file, () => {
    n++;
    wake?.();
  }, DEBOUNCE_MS, POLL_MS);
  return {
    watcher,
    count: () => n,
    next: (ms = 3000) =>
      new Promise<boolean>((resolve) => {
        const t = setTimeout(() => {
          wake = null;
          resolve(false);
        }, ms);
        wake = () => {
          clearTimeout(t);
          wake = null;
          resolve(true);
        };
      }),
  };
}

/** The libuv handles of this process, from the diagnostic report (unreferenced ones included). */
function handles(): Array<{ type: string; filename?: string }> {
  const report = process.report.getReport() as unknown as { libuv: Array<{ type: string; filename?: string }> };
  return report.libuv;
}

describe('config file watcher', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  async function dir(): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), 'infergate-watch-'));
    dirs.push(d);
    return d;
  }

  test('sees an edit in place, a rename over the file, a delete and re-create', async () => {
    const d = await dir();
    const file = join(d, 'infergate.yaml');
    await writeFile(file, 'a: 1\n');
    const w = counter(file);
    try {
      await sleep(POLL_MS * 2);
      let seen = w.next();
      await writeFile(file, 'a: 2\n');
      assert.equal(await seen, true, 'edit in place');

      seen = w.next();
      await writeFile(join(d, 'tmp.yaml'), 'a: 3\n');
      await rename(join(d, 'tmp.yaml'), file);
      assert.equal(await seen, true, 'rename over the file (editors, atomic writes)');

      seen = w.next();
      await unlink(file);
      assert.equal(await seen, true, 'deleted');
      seen = w.next();
      await writeFile(file, 'a: 4\n');
      assert.equal(await seen, true, 'created again');
    } finally {
      w.watcher.close();
    }
  });

  test("sees a Kubernetes ConfigMap update: the ..data symlink swapped, the old version's directory removed", async () => {
    const d = await dir();
    await mkdir(join(d, '..v1'));
    await writeFile(join(d, '..v1', 'infergate.yaml'), 'a: 1\n');
    await symlink('..v1', join(d, '..data'));
    await symlink(join('..data', 'infergate.yaml'), join(d, 'infergate.yaml'));
    const w = counter(join(d, 'infergate.yaml'));
    try {
      await sleep(POLL_MS * 2);
      const seen = w.next();
      await mkdir(join(d, '..v2'));
      await writeFile(join(d, '..v2', 'infergate.yaml'), 'a: 2\n');
      await symlink('..v2', join(d, '..data_tmp'));
      await rename(join(d, '..data_tmp'), join(d, '..data'));
      await rm(join(d, '..v1'), { recursive: true });
      assert.equal(await seen, true);
    } finally {
      w.watcher.close();
    }
  });

  test('sees a symlink pointed at another file while the old target stays (ln -sfn)', async () => {
    const d = await dir();
    await writeFile(join(d, 'blue.yaml'), 'a: 1\n');
    await writeFile(join(d, 'green.yaml'), 'a: 2\n');
    await symlink('blue.yaml', join(d, 'infergate.yaml'));
    const w = counter(join(d, 'infergate.yaml'));
    try {
      await sleep(POLL_MS * 2);
      const seen = w.next();
      await symlink('green.yaml', join(d, 'next.yaml'));
      await rename(join(d, 'next.yaml'), join(d, 'infergate.yaml'));
      assert.equal(await seen, true);
    } finally {
      w.watcher.close();
    }
  });

  test('writes to the files beside the config neither wake nor trigger it: no watch on the directory', async () => {
    const d = await dir();
    const file = join(d, 'infergate.yaml');
    await writeFile(file, 'a: 1\n');
    const w = counter(file);
    try {
      // A directory watch delivers every write beside the config to the process (a usage log, a request log).
      const watched = handles().filter((h) => h.type === 'fs_event' && h.filename !== undefined && (h.filename === d || h.filename === file));
      assert.deepEqual(watched, []);
      assert.ok(handles().some((h) => h.type === 'fs_poll'), 'the config is polled');
      for (let i = 0; i < 50; i++) await writeFile(join(d, 'usage.sqlite-wal'), `row ${i}\n`, { flag: 'a' });
      await sleep(POLL_MS * 4 + DEBOUNCE_MS);
      assert.equal(w.count(), 0);
    } finally {
      w.watcher.close();
    }
  });

  test('close stops it: a change after close is not reported, and its poll is gone', async () => {
    const d = await dir();
    const file = join(d, 'infergate.yaml');
    await writeFile(file, 'a: 1\n');
    const before = handles().filter((h) => h.type === 'fs_poll').length;
    const w = counter(file);
    assert.equal(handles().filter((h) => h.type === 'fs_poll').length, before + 1);
    w.watcher.close();
    await writeFile(file, 'a: 2\n');
    await sleep(POLL_MS * 4 + DEBOUNCE_MS);
    assert.equal(w.count(), 0);
    assert.equal(handles().filter((h) => h.type === 'fs_poll').length, before);
  });
});
