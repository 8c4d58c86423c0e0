import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestGateway } from '../helpers/harness.js';

// A file where a directory should be: SQLite cannot open a database under it, whoever runs the test (root included).
function blockedPath(): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'infergate-open-'));
  writeFileSync(join(dir, 'not-a-dir'), 'x');
  return { dir, path: join(dir, 'not-a-dir', 'state.db') };
}

const models = [{ name: 'm', backends: [{ url: 'http://127.0.0.1:9', model: 'x' }] }];

test('a usage log that cannot be opened names usage.sqlite and the path at start, not SQLite\'s bare words', async () => {
  const { dir, path } = blockedPath();
  try {
    // Without limits the usage log is the first to open the file; with a quota, the quota counters beside it are.
    for (const sections of [{ usage: { sqlite: path } }, { usage: { sqlite: path }, quotas: [{ match: { subject: '*' }, tokens_per_day: 1000 }] }]) {
      await assert.rejects(startTestGateway(models, { sections }), (err: Error) => {
        assert.match(err.message, /^usage\.sqlite: cannot open /);
        assert.ok(err.message.includes(path), err.message);
        return true;
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a key store that cannot be opened names keys.sqlite and the path', async () => {
  const { dir, path } = blockedPath();
  try {
    const sections = { keys: { sqlite: path, pepper: 'p'.repeat(32) } };
    await assert.rejects(startTestGateway(models, { sections }), (err: Error) => {
      assert.match(err.message, /^keys\.sqlite: cannot open /);
      assert.ok(err.message.includes(path), err.message);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
