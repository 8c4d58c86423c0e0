import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

// 32 random bytes as base64url: 256 bits of entropy in 43 printable bytes, enough for HS256 (RFC 7518 §3.2).
function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

function isCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

/** Reads an HMAC secret file; trailing newlines and spaces are not part of the secret. */
export function readSecretFileSync(path: string): string {
  return readFileSync(path, 'utf8').trim();
}

/**
 * Returns the development secret at `path`, creating it (mode 0600, parent 0700) on first start. `wx` makes
 * creation atomic: when two processes race, the loser reads the winner's secret instead of overwriting it.
 */
export async function ensureDevSecret(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if (!isCode(err, 'ENOENT')) throw err;
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const secret = newSecret();
  try {
    await writeFile(path, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    return secret;
  } catch (err) {
    if (isCode(err, 'EEXIST')) return (await readFile(path, 'utf8')).trim();
    throw err;
  }
}

/** Synchronous twin for config compilation, which runs once per load and is synchronous. */
export function ensureDevSecretSync(path: string): string {
  try {
    return readSecretFileSync(path);
  } catch (err) {
    if (!isCode(err, 'ENOENT')) throw err;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const secret = newSecret();
  try {
    writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    return secret;
  } catch (err) {
    if (isCode(err, 'EEXIST')) return readSecretFileSync(path);
    throw err;
  }
}
