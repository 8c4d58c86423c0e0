import { GatewayError, type Principal } from '../core/index.js';

/** Why a request was refused at authentication; a closed set so logs and metrics can count them. */
export type AuthFailure =
  | 'missing'
  | 'malformed'
  | 'too_large'
  | 'expired'
  | 'not_yet_valid'
  | 'issued_in_future'
  | 'lifetime_too_long'
  | 'bad_signature'
  | 'wrong_audience'
  | 'wrong_issuer'
  | 'unknown_key'
  | 'algorithm_not_allowed'
  | 'invalid_claims'
  /** A gateway-managed API key that an admin revoked. */
  | 'revoked';

/**
 * Client-facing texts. They name what is wrong with the token and never echo key material, configured secrets
 * or the configured audience/issuer values (those would help an attacker aim).
 */
const DESCRIPTIONS: Record<AuthFailure, string> = {
  missing: 'Missing bearer token. Send "Authorization: Bearer <JWT>".',
  malformed: 'The credential is not a well-formed JWT (nor an API key of this gateway).',
  too_large: 'The credential is larger than this gateway accepts.',
  expired: 'The token has expired.',
  not_yet_valid: 'The token is not valid yet (nbf is in the future).',
  issued_in_future: 'The token was issued in the future (iat is ahead of the gateway clock beyond its tolerance).',
  lifetime_too_long: 'The token lives longer than this issuer may grant (exp is too far after iat).',
  bad_signature: 'The token signature is invalid.',
  wrong_audience: 'The token was issued for another audience.',
  wrong_issuer: 'The token issuer is not trusted by this gateway.',
  unknown_key: 'The token was signed with an unknown key (kid).',
  algorithm_not_allowed: 'The token signing algorithm is not allowed for its issuer.',
  invalid_claims: 'The token claims are invalid.',
  revoked: 'The API key was revoked.',
};

const failureOf = new WeakMap<GatewayError, AuthFailure>();

/** The failure reason of an error thrown by `authenticate`, for logs and metrics; null for other errors. */
export function authFailureOf(err: unknown): AuthFailure | null {
  return err instanceof GatewayError ? (failureOf.get(err) ?? null) : null;
}

/** RFC 6750 §3: no `error` attribute when the request carried no credentials at all. */
function challenge(reason: AuthFailure, description: string): string {
  if (reason === 'missing') return 'Bearer realm="infergate"';
  const safe = description.replace(/["\\]/g, "'");
  return `Bearer realm="infergate", error="invalid_token", error_description="${safe}"`;
}

const callerOf = new WeakMap<GatewayError, Principal>();

/**
 * Who a refused credential proved to be, for the refusal's usage row and logs: a gateway key whose secret matched but
 * that is revoked or expired is still that key (an admin wants to see who keeps using it). Null for every other
 * refusal: a credential that proved nothing must not be put down to anyone. Its scopes are empty: it grants nothing.
 */
export function refusedCallerOf(err: unknown): Principal | null {
  return err instanceof GatewayError ? (callerOf.get(err) ?? null) : null;
}

const NO_SCOPES: ReadonlySet<string> = new Set();

/**
 * `detail` refines the text (e.g. which claim is missing); it must never contain secrets. `caller`: who the credential
 * proved to be although it is refused (see refusedCallerOf).
 */
export function unauthorized(reason: AuthFailure, detail?: string, caller?: Pick<Principal, 'subject' | 'team' | 'keyId'>): GatewayError {
  const description = detail ?? DESCRIPTIONS[reason];
  const err = new GatewayError('unauthorized', description, {
    wireCode: reason === 'missing' ? 'missing_token' : 'invalid_token',
    headers: { 'WWW-Authenticate': challenge(reason, description) },
  });
  failureOf.set(err, reason);
  if (caller) callerOf.set(err, Object.freeze({ subject: caller.subject, team: caller.team, keyId: caller.keyId ?? null, scopes: NO_SCOPES }));
  return err;
}

/**
 * RFC 6750 §3.1: a valid token that lacks the scope gets 403 with `error="insufficient_scope"` and the scope that would
 * allow the request.
 */
export function insufficientScopeHeaders(scope: string): Record<string, string> {
  return { 'WWW-Authenticate': `Bearer realm="infergate", error="insufficient_scope", scope="${scope.replace(/["\\]/g, "'")}"` };
}

/**
 * The issuer's key set could not be fetched and no earlier copy exists. Not the client's fault, so 503 (which
 * the OpenAI SDKs retry) rather than a 401 that would make a client discard a good token.
 */
export function keysUnavailable(): GatewayError {
  return new GatewayError('no_healthy_backend', 'The gateway cannot fetch the signing keys to verify your token right now; retry shortly.', {
    wireCode: 'auth_keys_unavailable',
    headers: { 'retry-after': '5' },
  });
}
