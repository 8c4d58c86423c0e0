import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createSqliteKeyStore } from '../../src/auth/index.js';
import { createSqliteQuotaStore } from '../../src/limits/index.js';
import { createUsageWriter } from '../../src/usage/index.js';

const dir = await mkdtemp(join(tmpdir(), 'infergate-shared-file-'));
after(() => rm(dir, { recursive: true, force: true }));
let n = 0;
const dbPath = () => join(dir, `shared-${++n}.sqlite`);

function fileSettings(path: string): { pageSize: number; autoVacuum: number; journal: string } {
  const db = new Database(path, { readonly: true });
  try {
    return {
      pageSize: db.pragma('page_size', { simple: true }) as number,
      autoVacuum: db.pragma('auto_vacuum', { simple: true }) as number,
      journal: db.pragma('journal_mode', { simple: true }) as string,
    };
  } finally {
    db.close();
  }
}

/** What the usage log chooses for a new file (core/sqlite-file.ts): 16 KiB pages, incremental auto-vacuum, WAL. */
const USAGE_SETTINGS = { pageSize: 16384, autoVacuum: 2, journal: 'wal' };

describe('a SQLite file shared by the usage log and other stores', () => {
  it('gets the usage log’s settings when the quota counters open it first (the gateway’s order with limits on)', () => {
    const path = dbPath();
    const quota = createSqliteQuotaStore({ path });
    const usage = createUsageWriter({ path, thread: false });
    try {
      assert.deepEqual(fileSettings(path), USAGE_SETTINGS);
    } finally {
      usage.close();
      quota.close();
    }
  });

  it('gets them when the key store opens it first', () => {
    const path = dbPath();
    const keys = createSqliteKeyStore(path);
    const usage = createUsageWriter({ path, thread: false });
    try {
      assert.deepEqual(fileSettings(path), USAGE_SETTINGS);
    } finally {
      usage.close();
      keys.close();
    }
  });

  it('keeps the settings of a file that already has tables (they cannot change once the first table exists)', () => {
    const path = dbPath();
    const old = new Database(path);
    old.exec('CREATE TABLE before_us (x INTEGER)');
    old.close();
    const quota = createSqliteQuotaStore({ path });
    const usage = createUsageWriter({ path, thread: false });
    try {
      assert.deepEqual(fileSettings(path), { pageSize: 4096, autoVacuum: 0, journal: 'wal' });
    } finally {
      usage.close();
      quota.close();
    }
  });
});
