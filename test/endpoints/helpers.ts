import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { RequestCtx } from '../../src/core/index.js';
import type { Gateway } from '../../src/server/index.js';
import { startTestGateway, type ModelSpec } from '../helpers/harness.js';
import { startIdp, type TestIdp } from '../helpers/idp.js';

/** A gateway with JWT auth, a usage log in a temp dir and every finished request's context kept for assertions. */
export interface GovernedGateway {
  readonly gw: Gateway;
  readonly idp: TestIdp;
  readonly ended: RequestCtx[];
  token(scope: string, sub?: string): Promise<string>;
  /** Usage rows of the SQLite log (after the writer flushed). */
  usageRows(): Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function startGovernedGateway(models: ModelSpec[], sections: Record<string, unknown> = {}, server: Record<string, unknown> = {}): Promise<GovernedGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'infergate-endpoints-'));
  const idp = await startIdp();
  const ended: RequestCtx[] = [];
  const dbPath = join(dir, 'usage.db');
  const gw = await startTestGateway(models, {
    server,
    sections: {
      auth: { issuers: [{ issuer: idp.issuer, audience: 'infergate', jwks_url: idp.jwksUrl, algorithms: ['RS256'] }] },
      usage: { sqlite: dbPath, flush_interval: '10ms' },
      ...sections,
    },
    onRequestEnd: (ctx) => ended.push(ctx),
  });
  return {
    gw,
    idp,
    ended,
    token: (scope, sub = 'alice') => idp.issueToken({ sub, scope }),
    usageRows() {
      const db = new Database(dbPath, { readonly: true, fileMustExist: true });
      try {
        return db.prepare('SELECT * FROM usage').all() as Array<Record<string, unknown>>;
      } finally {
        db.close();
      }
    },
    async close() {
      await gw.close(100);
      await idp.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The context of the last finished request on `endpoint`. */
export function lastEnded(g: GovernedGateway, endpoint: string): RequestCtx {
  const ctx = g.ended.filter((c) => c.endpoint === endpoint).at(-1);
  if (!ctx) throw new Error(`no finished ${endpoint} request`);
  return ctx;
}

export async function postJson(url: string, token: string | null, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: JSON.stringify(body),
  });
}

/** The last POST a simulated backend received (its log also holds the router's health probes and metric scrapes). */
export function lastPost(sim: { log: { entries: Array<{ method: string; path: string; rawBody: string }> } }): { path: string; rawBody: string } {
  const e = sim.log.entries.filter((x) => x.method === 'POST').at(-1);
  if (!e) throw new Error('the backend received no POST');
  return e;
}
