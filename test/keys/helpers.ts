import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RequestCtx } from '../../src/core/index.js';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { startSims, startTestGateway } from '../helpers/harness.js';
import { startIdp, type TestIdp } from '../helpers/idp.js';

export interface KeysWorld {
  dir: string;
  sims: SimServer[];
  idp: TestIdp;
  /** A JWT with `models:* admin`. */
  admin: string;
  ended: RequestCtx[];
  start(extra?: Record<string, unknown>): Promise<Gateway>;
  close(): Promise<void>;
}

/** A temp dir with a key store, one sim, a JWKS issuer, and gateways sharing that key store (like processes do). */
export async function keysWorld(prefix = 'infergate-keys-'): Promise<KeysWorld> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const sims = await startSims(1);
  const idp = await startIdp();
  const admin = await idp.issueToken({ sub: 'root', scope: 'models:* admin' });
  const gateways: Gateway[] = [];
  const ended: RequestCtx[] = [];
  return {
    dir,
    sims,
    idp,
    admin,
    ended,
    async start(extra = {}) {
      const gw = await startTestGateway(
        [
          { name: 'llama', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] },
          { name: 'other', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] },
        ],
        {
          sections: {
            auth: { issuers: [{ issuer: idp.issuer, audience: 'infergate', jwks_url: idp.jwksUrl, algorithms: ['RS256'] }] },
            keys: { sqlite: join(dir, 'keys.db'), pepper_file: join(dir, 'pepper'), generate_if_missing: true },
            usage: { sqlite: join(dir, 'usage.db'), flush_interval: '20ms' },
            ...extra,
          },
          onRequestEnd: (ctx) => void ended.push(ctx),
        },
      );
      gateways.push(gw);
      return gw;
    },
    async close() {
      await Promise.all(gateways.map((g) => g.close(100)));
      await Promise.all(sims.map((s) => s.close()));
      await idp.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface CreatedKey {
  id: string;
  key: string;
  [k: string]: unknown;
}

/** Calls the admin API with a bearer credential; returns status and parsed body. */
export async function adminCall(gw: Gateway, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${gw.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export async function createKey(gw: Gateway, admin: string, body: Record<string, unknown>): Promise<CreatedKey> {
  const r = await adminCall(gw, admin, 'POST', '/admin/keys', body);
  if (r.status !== 201) throw new Error(`create failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as CreatedKey;
}
