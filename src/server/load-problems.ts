import { AuthConfigError } from '../auth/index.js';
import { problemLines } from '../config/index.js';

/** Where in the config an auth key-material error is: `auth.issuers[0].secret_file`. */
export function authKeyPath(err: AuthConfigError): string {
  return `auth${err.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('')}`;
}

/**
 * A failed load's problems as lines, for the log, the console's last reload error and a worker's refusal. Key
 * material is read after validation (a secret_file gone or rotated to something short, a PEM that does not parse), so
 * its error is not a located ConfigError: it is given the file and the key it belongs to, as the start names it.
 * Without them a reload said 'AuthConfigError: the secret must be at least 32 bytes for HS256', naming no issuer.
 */
export function loadProblems(err: unknown, file: string): string[] {
  if (err instanceof AuthConfigError) return [`${file}: ${authKeyPath(err)}: ${err.message}`];
  return problemLines(err);
}
