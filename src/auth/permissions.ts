import { ENDPOINTS, GatewayError, type Endpoint, type Principal } from '../core/index.js';
import { insufficientScopeHeaders } from './failures.js';
import { globMatch, isGlob } from './glob.js';

/**
 * Scopes → permissions.
 *   `models:<name or glob>`        every endpoint of the matching models
 *   `models:<name or glob>:<op>`   one endpoint family: op is one of core's ENDPOINTS (chat | completions |
 *                                  embeddings | responses | messages | rerank | score | tokenize | audio)
 *   `admin`                        the /admin API
 *   `*`                            everything (the anonymous principal when `auth: none`)
 * Model names may contain `:` (`llama3:8b`), so only a final `:<op>` naming a known family is read as the op.
 * Unknown scopes are ignored: an IdP token carries many scopes meant for other services.
 */

const OPS: readonly Endpoint[] = ENDPOINTS;
const MAX_PATTERN = 256;

interface ModelGrant {
  readonly exact: ReadonlySet<string>;
  readonly globs: readonly string[];
}

export interface Permissions {
  readonly all: boolean;
  readonly admin: boolean;
  /** Grants valid for every endpoint, then per endpoint. */
  readonly any: ModelGrant;
  readonly byOp: Readonly<Record<Endpoint, ModelGrant>>;
  /** The endpoints some grant may allow for some model, as a bit per ENDPOINTS index: checked before a body is read. */
  readonly usable: number;
}

function grantMatches(g: ModelGrant, model: string): boolean {
  if (g.exact.has(model)) return true;
  for (const glob of g.globs) if (globMatch(glob, model)) return true;
  return false;
}

export function compilePermissions(scopes: Iterable<string>): Permissions {
  let all = false;
  let admin = false;
  const exact = Object.fromEntries(['any', ...OPS].map((k) => [k, new Set<string>()])) as Record<Endpoint | 'any', Set<string>>;
  const globs = Object.fromEntries(['any', ...OPS].map((k) => [k, [] as string[]])) as Record<Endpoint | 'any', string[]>;
  for (const scope of scopes) {
    if (scope === '*') all = true;
    else if (scope === 'admin') admin = true;
    else if (scope.startsWith('models:')) {
      let pattern = scope.slice('models:'.length);
      let op: keyof typeof exact = 'any';
      const colon = pattern.lastIndexOf(':');
      const tail = colon >= 0 ? pattern.slice(colon + 1) : '';
      if ((OPS as readonly string[]).includes(tail)) {
        op = tail as Endpoint;
        pattern = pattern.slice(0, colon);
      }
      // Runs of `*` mean the same as one; collapsing keeps the matcher's work small for odd scopes like `***`.
      pattern = pattern.replace(/\*{2,}/g, '*');
      if (pattern.length === 0 || pattern.length > MAX_PATTERN) continue;
      if (isGlob(pattern)) globs[op].push(pattern);
      else exact[op].add(pattern);
    }
  }
  const grant = (k: keyof typeof exact): ModelGrant => Object.freeze({ exact: exact[k], globs: Object.freeze(globs[k]) });
  const some = (k: keyof typeof exact): boolean => exact[k].size > 0 || globs[k].length > 0;
  let usable = 0;
  OPS.forEach((op, i) => {
    if (all || some('any') || some(op)) usable |= 1 << i;
  });
  return Object.freeze({
    all,
    usable,
    admin: all || admin,
    any: grant('any'),
    byOp: Object.freeze(Object.fromEntries(OPS.map((op) => [op, grant(op)])) as Record<Endpoint, ModelGrant>),
  });
}

// Compiled once per principal: authenticated principals live in the verified-token cache, so a hot client's scopes
// are parsed once per token, never per request. Keyed by the scope Set so any Principal value works.
const compiled = new WeakMap<ReadonlySet<string>, Permissions>();

export function permissionsOf(principal: Principal): Permissions {
  let p = compiled.get(principal.scopes);
  if (!p) {
    p = compilePermissions(principal.scopes);
    compiled.set(principal.scopes, p);
  }
  return p;
}

function allows(p: Permissions, model: string, endpoint: Endpoint | null): boolean {
  if (p.all || grantMatches(p.any, model)) return true;
  if (endpoint) return grantMatches(p.byOp[endpoint], model);
  return OPS.some((op) => grantMatches(p.byOp[op], model));
}

function names(model: string | readonly string[]): readonly string[] {
  return typeof model === 'string' ? [model] : model;
}

/** Whether the principal may use the model for at least one endpoint; for filtering `GET /v1/models`. */
export function canUseModel(principal: Principal, model: string | readonly string[]): boolean {
  const p = permissionsOf(principal);
  return names(model).some((m) => allows(p, m, null));
}

function quoted(model: string): string {
  return JSON.stringify(model.length > 200 ? `${model.slice(0, 200)}…` : model);
}

/**
 * Throws 403 unless the principal may call `endpoint` on the model. `model` may list several names of the same
 * model (requested name, canonical name, aliases): a grant on any of them is enough. The first names the error.
 */
export function authorize(principal: Principal, model: string | readonly string[], endpoint: Endpoint): void {
  const p = permissionsOf(principal);
  if (typeof model === 'string' ? allows(p, model, endpoint) : model.some((m) => allows(p, m, endpoint))) return;
  const list = names(model);
  const shown = quoted(list[0] ?? '');
  const other = list.some((m) => allows(p, m, null));
  throw new GatewayError(
    'forbidden',
    other ? `Your token does not grant access to model ${shown} for ${endpoint}` : `Your token does not grant access to model ${shown}`,
    { param: 'model', wireCode: 'model_not_permitted', headers: insufficientScopeHeaders(`models:${list[0] ?? ''}`.slice(0, 300)) },
  );
}

const OP_BIT = Object.fromEntries(OPS.map((op, i) => [op, 1 << i])) as Record<Endpoint, number>;

/**
 * Throws 403 unless some scope of the principal may allow `endpoint` for some model. Checked before the request's body
 * is read: a caller no model could serve this way costs no upload (an audio file spooled to disk, a JSON body held in
 * memory) and no parse. Which model it names is checked once the body says (`authorize`).
 */
export function authorizeEndpoint(principal: Principal, endpoint: Endpoint): void {
  if ((permissionsOf(principal).usable & OP_BIT[endpoint]) !== 0) return;
  throw new GatewayError('forbidden', `Your token grants no model for ${endpoint}.`, {
    wireCode: 'model_not_permitted',
    headers: insufficientScopeHeaders(`models:*:${endpoint}`),
  });
}

/** Whether the principal may call `endpoint` on the model (the boolean form of `authorize`, for fallbacks). */
export function permits(principal: Principal, model: string, endpoint: Endpoint): boolean {
  return allows(permissionsOf(principal), model, endpoint);
}

const ADMIN_CHALLENGE = insufficientScopeHeaders('admin');

/** Throws 403 unless the principal holds the `admin` scope. */
export function requireAdmin(principal: Principal): void {
  if (!permissionsOf(principal).admin) {
    throw new GatewayError('forbidden', 'This endpoint requires the "admin" scope.', { wireCode: 'admin_scope_required', headers: ADMIN_CHALLENGE });
  }
}
