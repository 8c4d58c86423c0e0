import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openUsageDb, queryUsage, USAGE_SCHEMA_VERSION } from '../../src/usage/index.js';
import { createSqliteSink, pushRow } from '../../src/usage/sqlite-sink.js';
import { row, T0 } from './fixtures.js';

const dir = await mkdtemp(join(tmpdir(), 'infergate-usage-schema-'));
after(() => rm(dir, { recursive: true, force: true }));
let n = 0;
const dbPath = () => join(dir, `usage-${++n}.db`);

const VIEW_COLUMNS =
  'request_id, time_ms, subject, team, requested_model, upstream_model, backend, endpoint, stream, status, error_code, prompt_tokens, completion_tokens, cached_tokens, token_source, ttft_ms, latency_ms';

describe('usage log schema', () => {
  it('upgrades a version 1 database in place: every row and every name survives, and reports read the same', () => {
    const path = dbPath();
    // Version 1 as released: names stored as text in a `usage` table.
    const v1 = new Database(path);
    v1.exec(`CREATE TABLE usage_schema (version INTEGER NOT NULL); INSERT INTO usage_schema VALUES (1);
      CREATE TABLE usage (id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, time_ms INTEGER NOT NULL, subject TEXT NOT NULL,
        team TEXT, requested_model TEXT, upstream_model TEXT, backend TEXT, endpoint TEXT, stream INTEGER NOT NULL,
        status INTEGER NOT NULL, error_code TEXT, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
        cached_tokens INTEGER NOT NULL, token_source TEXT, ttft_ms REAL, latency_ms REAL NOT NULL);
      CREATE INDEX usage_time ON usage (time_ms);`);
    const insert = v1.prepare(`INSERT INTO usage (${VIEW_COLUMNS}) VALUES (${'?,'.repeat(16)}?)`);
    const rows = [
      ['r1', T0, 'alice', 'research', 'llama', 'meta/llama', 'http://a', 'chat', 1, 200, null, 10, 20, 5, 'backend', 12.5, 40],
      ['r2', T0 + 1, 'bob', null, 'llama', null, null, 'chat', 0, 429, 'rate_limit_exceeded', 0, 0, 0, null, null, 1],
      // A subject that is also another column's value: one name, one id.
      ['r3', T0 + 2, 'chat', 'research', 'mistral', 'mistral', 'http://b', 'embeddings', 0, 200, null, 7, 0, 0, 'counted', 3, 9],
    ];
    for (const r of rows) insert.run(r);
    const before = v1.prepare(`SELECT ${VIEW_COLUMNS} FROM usage ORDER BY id`).all();
    v1.close();

    const db = openUsageDb(path);
    assert.equal((db.prepare('SELECT version FROM usage_schema').get() as { version: number }).version, USAGE_SCHEMA_VERSION);
    assert.deepEqual(db.prepare(`SELECT ${VIEW_COLUMNS} FROM usage ORDER BY id`).all(), before);
    const names = db.prepare('SELECT name FROM usage_names ORDER BY name').pluck().all();
    assert.deepEqual(names, [...new Set(names)], 'each name once');
    assert.ok(!names.includes(null));
    const byTeam = queryUsage(db, { fromMs: T0, toMs: T0 + 10, groupBy: ['team', 'model'] }).rows;
    assert.deepEqual(
      byTeam.map((r) => [r.team, r.model, r.requests, r.errors, r.total_tokens]),
      [
        [null, 'llama', 1, 1, 0],
        ['research', 'llama', 1, 0, 30],
        ['research', 'mistral', 1, 0, 7],
      ],
    );
    // New rows after the upgrade reuse the migrated names.
    const write = createSqliteSink(db).write;
    const batch: unknown[] = [];
    pushRow(batch, row({ id: 'r4', subject: 'alice', team: 'research', upstreamModel: 'meta/llama', backend: 'http://a' }));
    write(batch);
    assert.equal(db.prepare('SELECT COUNT(*) FROM usage_names').pluck().get(), names.length);
    assert.deepEqual(db.prepare("SELECT subject, team FROM usage WHERE request_id = 'r4'").get(), { subject: 'alice', team: 'research' });
    db.close();
  });

  it('never maps a name to the id of one rolled back with a failed batch', () => {
    const db = openUsageDb(dbPath());
    const write = createSqliteSink(db).write;
    const failing: unknown[] = [];
    pushRow(failing, row({ id: 'x1', subject: 'first-subject', team: 'first-team' }));
    // subject is NOT NULL: this row makes the whole batch (and the names it added) roll back.
    pushRow(failing, row({ id: 'x2', subject: null as unknown as string }));
    assert.throws(() => write(failing), /NOT NULL/);
    assert.equal(db.prepare('SELECT COUNT(*) FROM usage_names').pluck().get(), 0);

    const ok: unknown[] = [];
    pushRow(ok, row({ id: 'y1', subject: 'second-subject', team: 'second-team' }));
    pushRow(ok, row({ id: 'y2', subject: 'first-subject', team: 'first-team' }));
    write(ok);
    assert.deepEqual(db.prepare('SELECT request_id, subject, team FROM usage ORDER BY id').all(), [
      { request_id: 'y1', subject: 'second-subject', team: 'second-team' },
      { request_id: 'y2', subject: 'first-subject', team: 'first-team' },
    ]);
    db.close();
  });

  it('writes names as ids: each distinct name is stored once however many rows carry it', () => {
    const db = openUsageDb(dbPath());
    const write = createSqliteSink(db).write;
    const batch: unknown[] = [];
    for (let i = 0; i < 100; i++) pushRow(batch, row({ id: `z${i}`, subject: `user-${i % 3}` }));
    write(batch);
    assert.equal(db.prepare('SELECT COUNT(*) FROM usage').pluck().get(), 100);
    assert.deepEqual(db.prepare('SELECT DISTINCT typeof(subject_id) FROM usage_rows').pluck().all(), ['integer']);
    // 3 subjects + team, two models, backend, endpoint, token source.
    assert.equal(db.prepare('SELECT COUNT(*) FROM usage_names').pluck().get(), 9);
    db.close();
  });
});
