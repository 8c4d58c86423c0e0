import type { IncomingHttpHeaders } from 'node:http';

/** The gateway credential of an Anthropic client: `Authorization`, else `x-api-key` as a bearer token. */
export function anthropicCredential(headers: IncomingHttpHeaders): string | undefined {
  if (headers.authorization) return headers.authorization;
  const key = headers['x-api-key'];
  return typeof key === 'string' && key.length > 0 ? `Bearer ${key}` : undefined;
}
