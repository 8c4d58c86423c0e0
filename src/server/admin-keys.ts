import type { HttpBindings } from '@hono/node-server';
import type { Context, Hono } from 'hono';
import { KEY_ID_SHAPE, parseCreateKey, parseRotateKey, parseUpdateKey, type KeyRegistry } from '../auth/index.js';
import { parseJsonBody, readRequestBody } from '../api/index.js';
import { GatewayError, type Clock } from '../core/index.js';
import { refuseOtherMethods } from './methods.js';

type Env = { Bindings: HttpBindings };
type Ctx = Context<Env>;

export interface KeyRoutesDeps {
  /** Throws 401/403 unless the caller holds the `admin` scope. */
  admin(c: Ctx): Promise<void>;
  keys: KeyRegistry | null;
  clock: Clock;
}

const keysOff = () =>
  new GatewayError('not_found', 'Gateway-managed API keys are off; configure the `keys` section to use them.', { wireCode: 'api_keys_disabled' });

/** A key's settings are a few hundred bytes; an admin request body is refused (413) well before it could cost memory. */
export const ADMIN_BODY_LIMIT = 64 * 1024;

async function jsonBody(c: Ctx): Promise<unknown> {
  // From the socket with the limit applied as bytes arrive, not through the web Request, which buffers any size.
  const raw = await readRequestBody(c.env.incoming, ADMIN_BODY_LIMIT);
  if (raw.toString('latin1').trim() === '') return {};
  // A 64 KiB body cannot hold more values than it has bytes: the bound is the size.
  return parseJsonBody(raw, ADMIN_BODY_LIMIT);
}

function keyId(c: Ctx): string {
  const id = c.req.param('id') ?? '';
  // Same answer as an unknown id, without looking: an id of the wrong shape cannot exist.
  if (!KEY_ID_SHAPE.test(id)) throw new GatewayError('not_found', `No API key with id ${JSON.stringify(id.slice(0, 40))}.`, { param: 'id', wireCode: 'api_key_not_found' });
  return id;
}

/**
 * `/admin/keys`: create (the secret is in this one answer only), list, show, update, rotate, revoke. Scope `admin`.
 * Every change is live in this process at once and in every process sharing the key store within a poll interval.
 */
export function registerKeyRoutes(app: Hono<Env>, deps: KeyRoutesDeps): void {
  const registry = async (c: Ctx): Promise<KeyRegistry> => {
    await deps.admin(c);
    if (!deps.keys) throw keysOff();
    return deps.keys;
  };
  const noStore = { 'cache-control': 'no-store' };

  app.get('/admin/keys', async (c) => {
    const keys = await registry(c);
    const all = keys.list();
    const data = c.req.query('include_revoked') === 'false' ? all.filter((k) => k.status !== 'revoked') : all;
    return c.json({ object: 'list', data });
  });
  app.post('/admin/keys', async (c) => {
    const keys = await registry(c);
    const { key, secret } = await keys.create(parseCreateKey(await jsonBody(c), deps.clock.wallMs()));
    return c.json({ ...key, key: secret }, 201, noStore);
  });
  app.get('/admin/keys/:id', async (c) => {
    const keys = await registry(c);
    return c.json(keys.get(keyId(c)));
  });
  app.patch('/admin/keys/:id', async (c) => {
    const keys = await registry(c);
    const id = keyId(c);
    return c.json(await keys.update(id, parseUpdateKey(await jsonBody(c), deps.clock.wallMs())));
  });
  app.post('/admin/keys/:id/rotate', async (c) => {
    const keys = await registry(c);
    const id = keyId(c);
    const { key, secret } = await keys.rotate(id, parseRotateKey(await jsonBody(c)));
    return c.json({ ...key, key: secret }, 200, noStore);
  });
  const revoke = async (c: Ctx) => {
    const keys = await registry(c);
    return c.json(await keys.revoke(keyId(c)));
  };
  app.post('/admin/keys/:id/revoke', revoke);
  app.delete('/admin/keys/:id', revoke);
  refuseOtherMethods(app, '/admin/keys', 'GET, POST');
  refuseOtherMethods(app, '/admin/keys/:id', 'GET, PATCH, DELETE');
  refuseOtherMethods(app, '/admin/keys/:id/rotate', 'POST');
  refuseOtherMethods(app, '/admin/keys/:id/revoke', 'POST');
}
