import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Hono } from 'hono';
import { auditAdminCalls } from '../../src/server/admin-audit.js';

/** The paths auditAdminCalls records for these URLs, through a fake usage writer. */
async function recorded(urls: string[]): Promise<string[]> {
  const paths: string[] = [];
  const usage = { audit: (row: { path: string }) => paths.push(row.path) } as never;
  const app = new Hono();
  app.use('/admin/*', auditAdminCalls({ clock: { wallMs: () => Date.now() } as never, usage }));
  app.all('/admin/*', (c) => c.json({ ok: true }, 401));
  for (const u of urls) await app.request(`http://gw${u}`);
  return paths;
}

const SECRET = 'eBaiYguBjfL23a5Y96adtKzhRxVbL39ZbofU8GSOIvs';
const KEY = `sk-ig-n6zqnahxbr-${SECRET}`;

test('no gateway key secret reaches the audit table, however the URL carries it', async () => {
  const paths = await recorded([
    `/admin/usage?access%5Ftoken=${KEY}`,
    `/admin/keys/${KEY}`,
    `/admin/keys/${KEY}/revoke`,
    `/admin/usage?subject=${KEY}`,
    `/admin/limits?access_token=abc&subject=carol`,
  ]);
  for (const p of paths) assert.ok(!p.includes(SECRET), p);
  assert.equal(paths[1], '/admin/keys/sk-ig-n6zqnahxbr-redacted');
  assert.equal(paths[2], '/admin/keys/sk-ig-n6zqnahxbr-redacted/revoke');
  assert.equal(paths[4], '/admin/limits?access_token=redacted&subject=carol');
});

test('a public key id in ?key= is kept: it is what the audit row is about, not a credential', async () => {
  const paths = await recorded(['/admin/usage?key=n6zqnahxbr&group_by=model', `/admin/usage?key=${KEY}`, '/admin/usage?from=1h']);
  assert.equal(paths[0], '/admin/usage?key=n6zqnahxbr&group_by=model');
  assert.equal(paths[1], '/admin/usage?key=redacted');
  assert.equal(paths[2], '/admin/usage?from=1h');
});
