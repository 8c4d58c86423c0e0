import type { IncomingMessage, ServerResponse } from 'node:http';
import { acceptRequestId, GatewayError } from '../core/index.js';
import { writeError } from '../api/index.js';

/** `server.cors` as validated: origins already in their serialised form (`https://app.example.com`, `*`). */
export interface CorsConfig {
  readonly origins: readonly string[];
  readonly max_age: number;
}

/**
 * The methods the gateway's routes answer to (GET lists and reports, POST the API, PATCH API keys, DELETE stored
 * responses and keys).
 */
const ALLOW_METHODS = 'GET, POST, PATCH, DELETE';
/**
 * What a browser app may read of an answer besides the CORS-safelisted headers: the request ids the SDKs report, the
 * retry hints they honour, the rate limits and the timing a console shows.
 */
const EXPOSE_HEADERS = [
  'x-request-id',
  'request-id',
  'retry-after',
  'retry-after-ms',
  'x-should-retry',
  'x-quota-reset',
  'server-timing',
  'x-ratelimit-limit-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-requests',
  'x-ratelimit-reset-tokens',
].join(', ');
const PREFLIGHT_VARY = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';
// Header names as a browser lists them (field-name tokens, comma-separated); anything else is not echoed back.
const HEADER_LIST = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*,[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+)*$/;
const MAX_HEADER_LIST = 4096;
const SUBDOMAIN = /^[a-z0-9-]+(?:\.[a-z0-9-]+)*$/;

/**
 * Cross-origin access for browser apps (`server.cors`). A preflight from an allowed origin is answered here, before
 * authentication (browsers send no credentials on it); an actual request from one gets the allow and expose headers
 * set on its response before any route writes, so every answer carries them, errors included. Credentials mode is
 * never allowed: callers authenticate with a header, and the console's session must not be usable from other sites.
 */
export class Cors {
  readonly #any: boolean;
  readonly #exact: ReadonlySet<string>;
  /** `*.example.com` patterns as [scheme + '//', '.example.com' + port]. */
  readonly #suffixes: readonly (readonly [string, string])[];
  readonly #maxAge: string;

  constructor(cfg: CorsConfig) {
    this.#any = cfg.origins.includes('*');
    this.#exact = new Set(cfg.origins.filter((o) => o !== '*' && !o.includes('//*.')));
    this.#suffixes = cfg.origins.filter((o) => o.includes('//*.')).map((o) => {
      const at = o.indexOf('//*.') + 2;
      return [o.slice(0, at), o.slice(at + 1)] as const;
    });
    this.#maxAge = String(Math.floor(cfg.max_age / 1000));
  }

  /** The `Access-Control-Allow-Origin` value for `origin`, or null when it is not allowed. */
  allowOrigin(origin: string): string | null {
    if (this.#any) return '*';
    if (this.#exact.has(origin)) return origin;
    for (const [scheme, suffix] of this.#suffixes) {
      // At least one label before the suffix: `https://*.example.com` is every subdomain, not the apex.
      if (origin.startsWith(scheme) && origin.endsWith(suffix) && SUBDOMAIN.test(origin.slice(scheme.length, origin.length - suffix.length))) return origin;
    }
    return null;
  }

  /** True when the request was a preflight and is answered; otherwise the response carries the CORS headers, if any. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return false;
    const allowed = this.allowOrigin(origin);
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      this.#preflight(req, res, origin, allowed);
      return true;
    }
    if (allowed !== null) {
      res.setHeader('access-control-allow-origin', allowed);
      res.setHeader('access-control-expose-headers', EXPOSE_HEADERS);
    }
    // The answer depends on the Origin whenever origins are listed: a shared cache must not hand one site's to another.
    if (!this.#any) res.setHeader('vary', 'Origin');
    return false;
  }

  #preflight(req: IncomingMessage, res: ServerResponse, origin: string, allowed: string | null): void {
    const id = acceptRequestId(req.headers['x-request-id'] as string | undefined);
    const headers: Record<string, string> = { 'x-request-id': id, vary: PREFLIGHT_VARY };
    // Node keeps a body the preflight may carry from reaching the next request on the connection.
    req.resume();
    if (allowed === null) {
      const shown = origin.length > 200 ? `${origin.slice(0, 200)}…` : origin;
      writeError(res, new GatewayError('forbidden', `The origin ${JSON.stringify(shown)} may not call this gateway from a browser (server.cors.origins).`, { wireCode: 'origin_not_allowed' }), headers);
      return;
    }
    headers['access-control-allow-origin'] = allowed;
    headers['access-control-allow-methods'] = ALLOW_METHODS;
    const asked = req.headers['access-control-request-headers'];
    if (typeof asked === 'string' && asked.length <= MAX_HEADER_LIST && HEADER_LIST.test(asked)) headers['access-control-allow-headers'] = asked;
    headers['access-control-max-age'] = this.#maxAge;
    res.writeHead(204, headers);
    res.end();
  }
}
