import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { createUsageWriter } from '../../src/usage/index.js';
import { row } from '../usage/fixtures.js';

const run = promisify(execFile);
const dir = await mkdtemp(join(tmpdir(), 'infergate-usage-cli-ctl-'));
after(() => rm(dir, { recursive: true, force: true }));

test('the usage table shows control characters in names escaped: no ESC sequence or newline reaches the terminal', async () => {
  const path = join(dir, 'usage.db');
  const w = createUsageWriter({ path, batchSize: 10, flushIntervalMs: 10, thread: false });
  w.record(row({ id: 'ctl-1', subject: '\u001b]0;pwned\u0007\u001b[31mred', team: 'two\nlines', timeMs: Date.now() }));
  w.record(row({ id: 'ctl-2', subject: 'plain', team: 'ops', timeMs: Date.now() }));
  w.flush();
  await w.close();
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'scripts/usage-cli.ts', '--db', path, '--since', '1h', '--by', 'subject,team'], { cwd: join(import.meta.dirname, '../..') });
  assert.ok(!stdout.includes('\u001b'), JSON.stringify(stdout));
  assert.ok(!stdout.includes('\u0007'), JSON.stringify(stdout));
  const lines = stdout.trimEnd().split('\n');
  assert.equal(lines.length, 5, stdout); // range, header, rule, two rows: the newline in a team does not split its row
  assert.ok(stdout.includes('\\u001b]0;pwned\\u0007\\u001b[31mred'), stdout);
  assert.ok(stdout.includes('two\\u000alines'), stdout);
});
