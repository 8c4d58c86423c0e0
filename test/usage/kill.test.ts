import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';

const CHILD = fileURLToPath(new URL('./kill-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = await mkdtemp(join(tmpdir(), 'infergate-kill-'));
after(() => rm(dir, { recursive: true, force: true }));

/** Runs the child for `runMs` after it is ready, sends `signal`, and returns what it recorded and what reached disk. */
async function runAndKill(signal: NodeJS.Signals, runMs: number, batch: number, interval: number, perTick = 10) {
  const path = join(dir, `${signal}-${batch}-${perTick}.db`);
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, path, String(batch), String(interval), String(perTick)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  const ready = new Promise<void>((resolve) =>
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('ready\n')) resolve();
    }),
  );
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  await ready;
  await new Promise((r) => setTimeout(r, runMs));
  child.kill(signal);
  await exited;
  const counts = [...out.matchAll(/^(?:closed )?(\d+)$/gm)].map((m) => Number(m[1]));
  const recorded = Math.max(0, ...counts);
  const db = new Database(path, { readonly: true });
  const { c, maxId } = db.prepare("SELECT COUNT(*) AS c, MAX(CAST(substr(request_id, 2) AS INTEGER)) AS maxId FROM usage").get() as { c: number; maxId: number | null };
  db.close();
  return { recorded, written: c, maxId: maxId ?? 0, closedCleanly: out.includes('closed ') };
}

describe('usage log durability', () => {
  it('loses at most about one batch of rows on a hard kill (SIGKILL)', async (t) => {
    const batch = 100;
    const r = await runAndKill('SIGKILL', 400, batch, 50);
    const lost = r.recorded - r.written;
    t.diagnostic(`SIGKILL after ~400 ms: recorded ${r.recorded}, committed ${r.written}, lost ${lost} (batch ${batch}, interval 50 ms, ~10 rows/ms)`);
    assert.ok(r.recorded > 1000, 'the child was under load');
    assert.equal(r.maxId, r.written, 'committed rows are a prefix: batches commit in order, nothing in the middle is lost');
    assert.ok(lost >= 0 && lost <= batch + 20, `lost ${lost} rows`);
  });

  it('with the default batch (256) and interval (200 ms) at ~1 row/ms loses at most one interval of rows', async (t) => {
    const r = await runAndKill('SIGKILL', 700, 256, 200, 1);
    const lost = r.recorded - r.written;
    t.diagnostic(`SIGKILL, defaults, ~1 row/ms: recorded ${r.recorded}, committed ${r.written}, lost ${lost}`);
    assert.equal(r.maxId, r.written);
    assert.ok(lost >= 0 && lost <= 200, `lost ${lost} rows`);
  });

  it('loses nothing on SIGTERM: close() writes every queued row', async () => {
    const r = await runAndKill('SIGTERM', 300, 500, 1000);
    assert.ok(r.closedCleanly);
    assert.ok(r.recorded > 500);
    assert.equal(r.written, r.recorded);
  });
});
