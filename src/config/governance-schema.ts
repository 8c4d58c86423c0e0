import { z } from 'zod';
import { bytes, duration } from './units.js';

/**
 * Schemas of the governance sections (`auth`, `limits`, `quotas`, `usage`). Merged into the root schema by
 * `schema.ts`; like it, every object is strict so a misspelt limit is an error and never silently ignored.
 * Everything that can be checked without I/O is checked here, so a bad key setup fails at load with a YAML path.
 */

const positiveInt = z.number().int().positive();

/**
 * `literal | object`, reporting the object's own issues with their full paths. A plain z.union would collapse every
 * mistake inside the object into one "Invalid input" at the section, which points at no line.
 */
/**
 * The two alternatives of each `literal | object` section, for the config reference (its JSON Schema is opaque). By
 * the schema's definition object, which `.describe()` and the other copies of a schema share.
 */
export const sectionAlternatives = new WeakMap<object, { literal: string | boolean; schema: z.ZodType }>();

function literalOr<L extends string | boolean, S extends z.ZodType>(literal: L, schema: S) {
  const section = z.custom<L | z.input<S>>(() => true).transform((v, ctx): L | z.output<S> => {
    if (v === literal) return literal;
    if (v === undefined) {
      ctx.addIssue({ code: 'custom', message: `this section is required: configure it, or set it to ${JSON.stringify(literal)}` });
      return z.NEVER;
    }
    // reportInput: each issue keeps the value at its own path, so a type error names what was really given there
    // (without it, addIssue below would fill in this whole section and every message would read "got a mapping").
    const r = schema.safeParse(v, { reportInput: true });
    if (r.success) return r.data;
    for (const issue of r.error.issues) {
      const message = issue.code === 'invalid_type' && issue.path.length === 0 ? `expected ${JSON.stringify(literal)} or an object` : issue.message;
      ctx.addIssue({ ...issue, message });
    }
    return z.NEVER;
  });
  sectionAlternatives.set(section._zod.def, { literal, schema });
  return section;
}

export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
export const ASYMMETRIC_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
] as const;
const ALL_ALGORITHMS = [...HMAC_ALGORITHMS, ...ASYMMETRIC_ALGORITHMS] as const;
export type JwtAlgorithm = (typeof ALL_ALGORITHMS)[number];

const algorithm = z.enum(ALL_ALGORITHMS, {
  error: (issue) =>
    issue.input === 'none'
      ? 'algorithm "none" is never accepted: every token must be signed'
      : `unknown algorithm ${JSON.stringify(issue.input)}; use one of ${ALL_ALGORITHMS.join(', ')}`,
});

/** RFC 7518 §3.2: an HMAC key must be at least as long as the hash output. */
export const MIN_HMAC_SECRET_BYTES: Record<(typeof HMAC_ALGORITHMS)[number], number> = { HS256: 32, HS384: 48, HS512: 64 };

export function isHmacAlgorithm(alg: string): alg is (typeof HMAC_ALGORITHMS)[number] {
  return (HMAC_ALGORITHMS as readonly string[]).includes(alg);
}

const KEY_SOURCES = ['secret', 'secret_file', 'public_key', 'jwks_url'] as const;

export const issuerSchema = z
  .strictObject({
    /** Must equal the token's `iss` exactly; also how a token is routed to its key set. */
    issuer: z.string().min(1).describe('Must equal the token\'s iss exactly; a token is verified only with its own issuer\'s keys.'),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).describe('The aud the token must carry (one of them, for a list).'),
    /** Pinned per issuer: a token whose header names another algorithm is refused before any key is used. */
    algorithms: z.array(algorithm).min(1).describe('Signing algorithms accepted for this issuer (pinned: a token naming another is refused before any key is used; none is never accepted).'),
    /** HMAC shared secret (use `${ENV_VAR}`); at least 32/48/64 bytes for HS256/384/512. */
    secret: z.string().optional().describe('HMAC shared secret (use ${ENV_VAR}); at least 32/48/64 bytes for HS256/384/512. One key source per issuer.'),
    /** File holding the HMAC secret (trailing whitespace ignored), e.g. the quick start's `./data/dev-secret`. */
    secret_file: z.string().min(1).optional().describe('File holding the HMAC secret (trailing whitespace ignored), e.g. the quick start\'s ./data/dev-secret.'),
    /** Create `secret_file` with a random secret (mode 0600) when it does not exist. For development issuers. */
    generate_if_missing: z.boolean().optional().describe('Create secret_file with a random secret (mode 0600) when it does not exist; for development issuers.'),
    /** A public key as PEM (`-----BEGIN PUBLIC KEY-----`) or as a JWK object. */
    public_key: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).optional().describe('A public key as PEM (-----BEGIN PUBLIC KEY-----) or as a JWK object.'),
    jwks_url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL for jwks_url' }).optional().describe('The issuer\'s JWKS endpoint; keys are fetched, cached and refetched on an unknown kid.'),
    /** Minimum time between refetches caused by an unknown `kid`. */
    jwks_cooldown: duration.optional().describe('Minimum time between refetches caused by an unknown kid. Default: 30s.'),
    /** How long fetched keys count as fresh; stale keys are still served while the issuer is unreachable. */
    jwks_cache_max_age: duration.optional().describe('How long fetched keys count as fresh (then refreshed in the background); stale keys are still served while the issuer is unreachable. Default: 10m.'),
    /** How long one JWKS fetch may take before it counts as failed (default 5s). */
    jwks_timeout: duration.refine((ms) => ms > 0, { message: 'expected a duration greater than 0' }).optional().describe('How long one JWKS fetch may take before it counts as failed. Default: 5s.'),
    /**
     * Longest lifetime accepted for this issuer's tokens: `exp - iat`, or `exp` from now when the token has no `iat`.
     * Unset: any lifetime.
     */
    max_token_lifetime: duration.refine((ms) => ms > 0, { message: 'expected a duration greater than 0' }).optional().describe('Longest lifetime accepted for this issuer\'s tokens: exp - iat, or exp from now when the token has no iat. Unset: any lifetime.'),
  })
  .superRefine((iss, ctx) => {
    const sources = KEY_SOURCES.filter((k) => iss[k] !== undefined);
    if (sources.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          sources.length === 0
            ? 'an issuer needs exactly one key source: secret, secret_file, public_key or jwks_url'
            : `an issuer takes exactly one key source, got ${sources.join(' and ')}`,
      });
      return;
    }
    const source = sources[0];
    const symmetric = source === 'secret' || source === 'secret_file';
    iss.algorithms.forEach((alg, i) => {
      if (symmetric && !isHmacAlgorithm(alg)) {
        ctx.addIssue({
          code: 'custom',
          path: ['algorithms', i],
          message: `${alg} needs a public key (public_key or jwks_url); a ${source} only verifies HS256/HS384/HS512`,
        });
      } else if (!symmetric && isHmacAlgorithm(alg)) {
        // The classic confusion attack: an HMAC check keyed with a public key anyone can read.
        ctx.addIssue({
          code: 'custom',
          path: ['algorithms', i],
          message: `${alg} is an HMAC algorithm and is never verified with a public key; use secret or secret_file`,
        });
      }
    });
    if (iss.secret !== undefined) {
      const need = Math.max(...iss.algorithms.filter(isHmacAlgorithm).map((a) => MIN_HMAC_SECRET_BYTES[a]), 32);
      if (Buffer.byteLength(iss.secret) < need) {
        ctx.addIssue({ code: 'custom', path: ['secret'], message: `the secret must be at least ${need} bytes for ${iss.algorithms.join(', ')}` });
      }
    }
    if (iss.generate_if_missing !== undefined && source !== 'secret_file') {
      ctx.addIssue({ code: 'custom', path: ['generate_if_missing'], message: 'generate_if_missing only applies to secret_file' });
    }
    for (const k of ['jwks_cooldown', 'jwks_cache_max_age', 'jwks_timeout'] as const) {
      if (iss[k] !== undefined && source !== 'jwks_url') ctx.addIssue({ code: 'custom', path: [k], message: `${k} only applies to jwks_url` });
    }
  });

/** A claim name, or a dotted path into nested claims such as `realm_access.roles`. */
const claimPath = z.string().min(1);

export const claimsSchema = z.strictObject({
  subject: claimPath.default('sub').describe('Claim (or dotted path) naming the caller.'),
  team: claimPath.default('team').describe('Claim (or dotted path) naming the caller\'s team, for limits, quotas and usage.'),
  groups: claimPath.optional().describe('Claim (or dotted path, e.g. realm_access.roles) holding the caller\'s groups.'),
  /** Scope claims; each may hold a space-separated string (`scope`) or an array (`scp`). All listed are merged. */
  scopes: z.union([claimPath, z.array(claimPath).min(1)]).default(['scope', 'scp']).describe('Claims holding scopes, as a space-separated string (scope) or a list (scp); all listed are merged.'),
});

export const authObjectSchema = z
  .strictObject({
    issuers: z.array(issuerSchema).min(1, 'configure at least one issuer, or `auth: none` for local experiments').describe('Trusted token issuers, each with exactly one key source.'),
    claims: claimsSchema.prefault({}).describe('Where the principal is read from in a token.'),
    max_token_bytes: bytes.default(16 * 1024).describe('Largest bearer token accepted (401 beyond it).'),
    clock_tolerance: duration.default(30_000).describe('Slack allowed on exp, nbf and iat for clocks that disagree.'),
    /** Exact paths served without a token. `/v1/*` and `/admin/*` can never be opened. */
    open_routes: z
      .array(
        z
          .string()
          .regex(/^\/[^\s?#]*$/, 'open routes are exact paths such as /healthz')
          .refine((p) => !/^\/(v1|admin)(\/|$)/.test(p), 'routes under /v1 and /admin always require a token'),
      )
      .default(['/healthz', '/readyz']).describe('Exact paths served without a token; routes under /v1 and /admin can never be opened.'),
    /** Verified tokens remembered (until their `exp`) so a hot client does not pay a signature check per request. */
    token_cache_size: z.number().int().min(0).max(1_000_000).default(10_000).describe('Verified tokens remembered (until their exp) so a busy client does not pay a signature check per request; 0 turns the cache off.'),
  })
  .superRefine((auth, ctx) => {
    const seen = new Set<string>();
    auth.issuers.forEach((iss, i) => {
      if (seen.has(iss.issuer)) ctx.addIssue({ code: 'custom', path: ['issuers', i, 'issuer'], message: `issuer "${iss.issuer}" is listed twice` });
      seen.add(iss.issuer);
    });
  });

export const authSectionSchema = literalOr('none', authObjectSchema);

/** A match value is an exact name, or `"*"`: the rule applies to every value and each distinct value gets its own bucket. */
const matchValue = z.string().min(1);
export const matchSchema = z.strictObject({
  subject: matchValue.optional().describe('The subject this rule applies to, or "*": every subject gets its own bucket.'),
  team: matchValue.optional().describe('The team this rule applies to, or "*": every team gets its own bucket.'),
  model: matchValue.optional().describe('The public model this rule applies to, or "*": every model gets its own bucket.'),
  /** The public id of a gateway-managed API key (`"*"`: every key its own bucket); requests with a JWT never match. */
  key: matchValue.optional().describe('The public id of a gateway-managed API key this rule applies to, or "*": every key gets its own bucket.'),
});

export const limitRuleSchema = z
  .strictObject({
    match: matchSchema.prefault({}).describe('Who the rule applies to; the most specific rule naming the same fields wins.'),
    rpm: positiveInt.optional().describe('Requests per minute.'),
    /** Tokens per minute, prompt + completion. */
    tpm: positiveInt.optional().describe('Tokens per minute, prompt + completion.'),
    concurrency: positiveInt.optional().describe('Requests in flight at once.'),
  })
  .refine((r) => r.rpm !== undefined || r.tpm !== undefined || r.concurrency !== undefined, {
    message: 'a limit needs at least one of rpm, tpm or concurrency',
  });

export const quotaRuleSchema = z
  .strictObject({
    match: matchSchema.prefault({}).describe('Who the quota applies to.'),
    tokens_per_day: positiveInt.optional().describe('Tokens per UTC day, prompt + completion.'),
    tokens_per_month: positiveInt.optional().describe('Tokens per UTC month, prompt + completion.'),
  })
  .refine((r) => r.tokens_per_day !== undefined || r.tokens_per_month !== undefined, {
    message: 'a quota needs tokens_per_day or tokens_per_month',
  });

export const usageObjectSchema = z
  .strictObject({
    sqlite: z.string().min(1).describe('The usage log\'s SQLite file (quotas are kept beside it).'),
    /** Rows per transaction: larger batches cost less per row; written on the event loop (one core), 256 rows hold it about half a millisecond. */
    batch_size: z.number().int().min(1).max(100_000).default(256).describe('Rows per transaction: larger batches cost less per row; on one core, 256 rows hold the event loop about half a millisecond.'),
    flush_interval: duration.default(200).describe('A partial batch is written after this long.'),
    queue_max: z.number().int().min(1).default(20_000).describe('Rows recorded and not yet written; beyond it a recording call waits for the writer (backpressure) rather than drop rows.'),
    /**
     * Commit batches on a writer thread (`true`), on the event loop between requests (`false`), or `auto`: a thread
     * when the process may run on more than one core (its CPU affinity), the event loop otherwise.
     */
    writer_thread: z.union([z.literal('auto'), z.boolean()]).default('auto').describe('Write batches on a thread (true), on the event loop (false), or auto: a thread when the process may use more than one core.'),
    /**
     * Raw rows (one per request, for drill-down and export) older than this are deleted, in small batches off the
     * request path, once they are rolled up; `0` keeps them forever. Reports read the rollups and are not affected.
     */
    retention: duration
      .default(90 * 86_400_000)
      .describe('Raw rows (for drill-down and export) older than this are deleted in small batches once rolled up; 0 keeps them. Reports read rollups.'),
    /** Day rollups (what reports read for old ranges) older than this are deleted; `0` keeps them forever. */
    rollup_retention: duration
      .default(400 * 86_400_000)
      .describe('Day rollups (what reports read) older than this are deleted; 0 keeps them. Minute rollups are kept 2 days, hour rollups 35 days.'),
  })
  .refine((u) => u.queue_max >= u.batch_size, { message: 'queue_max must be at least batch_size', path: ['queue_max'] });

export const usageSectionSchema = literalOr(false, usageObjectSchema);

/**
 * Rules with the same match compete for one request and only the first applies (limits/rules.ts selectRules), so a
 * second one, such as `rpm` and `concurrency` written as two rules for `subject: "*"`, was silently never enforced.
 */
function uniqueMatches<R extends { match: Record<string, string | undefined> }>(section: string, fields: string) {
  return (rules: R[], ctx: z.RefinementCtx) => {
    const seen = new Map<string, number>();
    rules.forEach((r, i) => {
      const id = JSON.stringify(['subject', 'team', 'model', 'key'].map((d) => r.match[d] ?? null));
      const first = seen.get(id);
      if (first === undefined) seen.set(id, i);
      else
        ctx.addIssue({
          code: 'custom',
          path: [i, 'match'],
          message: `the same match as ${section}[${first}]: only one of them would apply; put ${fields} in one rule`,
        });
    });
  };
}

/** Spread into the root strict object: `z.strictObject({ ...governanceShape, server, models, ... })`. */
export const governanceShape = {
  /** Required on purpose: a config without `auth` is an error, so turning auth off is always explicit. */
  auth: authSectionSchema.describe('Authentication: trusted issuers, claims and open routes, or none to turn it off (logged as a warning).'),
  limits: z.array(limitRuleSchema).superRefine(uniqueMatches('limits', 'rpm, tpm and concurrency')).default([]).describe('Rate limits: requests and tokens per minute and concurrency per subject, team and model.'),
  quotas: z.array(quotaRuleSchema).superRefine(uniqueMatches('quotas', 'tokens_per_day and tokens_per_month')).default([]).describe('Token quotas per UTC day or month, persisted beside the usage log.'),
  usage: usageSectionSchema.default(false).describe('The usage log (one row per request), or false.'),
};

export type IssuerConfig = z.output<typeof issuerSchema>;
export type ClaimsConfig = z.output<typeof claimsSchema>;
export type AuthSection = z.output<typeof authSectionSchema>;
export type AuthConfig = z.output<typeof authObjectSchema>;
export type MatchConfig = z.output<typeof matchSchema>;
export type LimitRuleConfig = z.output<typeof limitRuleSchema>;
export type QuotaRuleConfig = z.output<typeof quotaRuleSchema>;
export type UsageSection = z.output<typeof usageSectionSchema>;
export type UsageConfig = z.output<typeof usageObjectSchema>;
