import type { Env, Hono } from 'hono';
import { GatewayError } from '../core/index.js';

/**
 * A path's other methods get 405 with `Allow` naming the ones it serves, not the 404 of an unknown route: register
 * after the path's own handlers (the first match answers). The app's error handler writes it in the route's envelope.
 */
export function refuseOtherMethods<E extends Env>(app: Hono<E>, path: string, allow: string): void {
  app.all(path, (c) => {
    throw new GatewayError('method_not_allowed', `Method ${c.req.method} is not allowed here; use ${allow}.`, { headers: { allow } });
  });
}
