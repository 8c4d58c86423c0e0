import { z } from 'zod';
import { ENDPOINTS, GatewayError, parseDuration } from '../../core/index.js';
import type { KeyInput, KeyPatch } from './registry.js';

/**
 * The admin API's request bodies for keys. Scopes use the JWT grammar (`models:<name or glob>[:op]`, `admin`);
 * unlike a JWT's, a key's scopes are written by an admin here, so an unknown scope is a typo to report, not a scope
 * meant for another service to ignore.
 */
const SCOPE = /^(admin|models:[^\s:][^\s]*)$/;
const scope = z.string().max(300).regex(SCOPE, `a scope is "admin" or "models:<name or glob>[:${ENDPOINTS.join('|:')}]"`);

/**
 * The operation a scope's last `:segment` was probably meant to name (`embedding`, `chats`, `completion`), or null.
 * Model names may contain `:` (`llama3:latest`, so `models:*:latest` is a real grant), so only a near miss of an
 * operation's name is taken for a typo: it would otherwise be read as part of a model name and grant nothing.
 */
function misspeltOp(scope: string): string | null {
  const colon = scope.lastIndexOf(':');
  const tail = colon > 'models:'.length ? scope.slice(colon + 1) : '';
  if (tail.length < 4 || (ENDPOINTS as readonly string[]).includes(tail)) return null;
  // A near miss: one letter short or over (`embedding`, `chats`, `completion`), not any tag that starts with an
  // operation's name (`llama2:chat-q4_0`, `bge:reranker-v2` are model names and whole-model grants).
  return ENDPOINTS.find((op) => (op.startsWith(tail) && op.length - tail.length <= 1) || (tail.startsWith(op) && tail.length - op.length <= 1)) ?? null;
}

const scopes = z.union([z.string(), z.array(z.string())]).transform((v, ctx) => {
  // Space-separated as a JWT's `scope` is (claims.ts readList): other whitespace is inside a scope, which SCOPE refuses.
  const list = (typeof v === 'string' ? v.split(' ') : v).filter((s) => s.length > 0);
  for (const [i, s] of list.entries()) {
    const r = scope.safeParse(s);
    const shown = JSON.stringify(s.slice(0, 60));
    if (!r.success) ctx.addIssue({ code: 'custom', path: [i], message: `${shown}: ${r.error.issues[0]?.message}` });
    else {
      const op = misspeltOp(s);
      if (op) ctx.addIssue({ code: 'custom', path: [i], message: `${shown}: the operation is "${op}" (${s.slice(0, s.lastIndexOf(':'))}:${op})` });
    }
  }
  return [...new Set(list)];
});
const name = z.string().min(1).max(200);
const count = z.number().int().positive().max(1e15);
const limits = z.strictObject({
  rpm: count.optional(),
  tpm: count.optional(),
  concurrency: count.optional(),
  tokens_per_day: count.optional(),
  tokens_per_month: count.optional(),
});
const when = z.union([z.string(), z.number(), z.null()]);
const durationText = z.union([z.string(), z.number()]);

const createSchema = z.strictObject({
  subject: name,
  team: name.nullable().optional(),
  scopes,
  label: z.string().max(200).optional(),
  /** An ISO 8601 time or epoch ms; or `ttl`, a duration from now. */
  expires_at: when.optional(),
  ttl: durationText.optional(),
  limits: limits.optional(),
});

const updateSchema = createSchema.partial();

const rotateSchema = z.strictObject({ overlap: durationText.optional() });

function invalid(err: z.ZodError): GatewayError {
  const issue = err.issues[0]!;
  const param = issue.path.length > 0 ? issue.path.join('.') : null;
  return new GatewayError('invalid_request', `${param ? `${param}: ` : ''}${issue.message}`, { param });
}

function parse<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body ?? {});
  if (!r.success) throw invalid(r.error);
  return r.data;
}

function durationMs(v: string | number, param: string): number {
  const ms = parseDuration(v);
  if (!Number.isFinite(ms) || ms < 0) throw new GatewayError('invalid_request', `${param}: expected a duration such as 30m, 24h or 90d`, { param });
  return ms;
}

/**
 * The latest time a JavaScript Date can hold (ECMA-262 §21.4.1.1). An expiry past it cannot be shown (`toISOString`
 * throws), and a stored one would break every listing of keys and the key's own 401: refused here, before it is stored.
 */
const MAX_TIME_MS = 8.64e15;

function expiry(body: { expires_at?: string | number | null; ttl?: string | number }, nowMs: number): number | null | undefined {
  if (body.ttl !== undefined) {
    const ms = nowMs + durationMs(body.ttl, 'ttl');
    if (!(ms <= MAX_TIME_MS)) throw new GatewayError('invalid_request', 'ttl: too long; the expiry must be a time before the year 275760', { param: 'ttl' });
    return ms;
  }
  if (body.expires_at === undefined) return undefined;
  if (body.expires_at === null) return null;
  const ms = typeof body.expires_at === 'number' ? body.expires_at : Date.parse(body.expires_at);
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_TIME_MS) throw new GatewayError('invalid_request', 'expires_at: expected an ISO 8601 time or epoch milliseconds', { param: 'expires_at' });
  return ms;
}

export function parseCreateKey(body: unknown, nowMs: number): KeyInput {
  const b = parse(createSchema, body);
  if (b.scopes.length === 0) throw new GatewayError('invalid_request', 'scopes: a key needs at least one scope', { param: 'scopes' });
  return { subject: b.subject, team: b.team ?? null, scopes: b.scopes, label: b.label ?? '', expiresMs: expiry(b, nowMs) ?? null, limits: b.limits ?? {} };
}

export function parseUpdateKey(body: unknown, nowMs: number): KeyPatch {
  const b = parse(updateSchema, body);
  const patch: KeyPatch = {};
  if (b.subject !== undefined) patch.subject = b.subject;
  if (b.team !== undefined) patch.team = b.team;
  if (b.scopes !== undefined) patch.scopes = b.scopes;
  if (b.label !== undefined) patch.label = b.label;
  if (b.limits !== undefined) patch.limits = b.limits;
  const exp = expiry(b, nowMs);
  if (exp !== undefined) patch.expiresMs = exp;
  return patch;
}

/** The overlap in ms during which the previous secret still works (default 0: it stops at once). */
export function parseRotateKey(body: unknown): number {
  const b = parse(rotateSchema, body);
  return b.overlap === undefined ? 0 : durationMs(b.overlap, 'overlap');
}
