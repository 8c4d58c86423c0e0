import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { createUsageWriter } from '../../src/usage/index.js';
import { row } from '../usage/fixtures.js';

const run = promisify(execFile);
const dir = await mkdtemp(join(tmpdir(), 'infergate-usage-cli-range-'));
const path = join(dir, 'usage.db');
after(() => rm(dir, { recursive: true, force: true }));
before(async () => {
  const w = createUsageWriter({ path, batchSize: 10, flushIntervalMs: 10, thread: false });
  w.record(row({ id: 'range-1', subject: 'ann', team: 'ops', timeMs: Date.now() }));
  w.flush();
  await w.close();
});

const usage = (...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'scripts/usage-cli.ts', '--db', path, ...args], { cwd: join(import.meta.dirname, '../..') }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

test('--from after --to exits non-zero with one line saying so, for the report and the export', async () => {
  for (const args of [['--from', '2024-01-02', '--to', '2024-01-01'], ['export', '--from', '2000', '--to', '1000'], ['--from', '2999-01-01']]) {
    const r = await usage(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stdout, '', args.join(' '));
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^--from \(.+\) is after --to \(.+\)/, args.join(' '));
  }
});

test('digits alone are epoch milliseconds (0 is 1970, not the year 2000); a non-date is refused', async () => {
  const r = await usage('--from', '0', '--by', 'subject');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^1970-01-01T00:00:00\.000Z \.\. /);
  assert.match(r.stdout, /\bann\b/);
  const bad = await usage('--to', '99999999999999999999');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^--to: not a date: 99999999999999999999/);
});
