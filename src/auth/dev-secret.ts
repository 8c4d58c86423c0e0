import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
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

/** A private name beside `path` for writing the secret before it is published under `path`. */
function tempPath(path: string): string {
  return `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
}

/**
 * Returns the development secret at `path`, creating it (mode 0600, parent 0700) on first start. The secret is
 * written whole to a private file and then hard-linked to `path`: the link either appears complete or fails with
 * EEXIST, so when processes race, every loser reads the winner's full secret (never an empty, half-written file).
 */
export async function ensureDevSecret(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if (!isCode(err, 'ENOENT')) throw err;
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const secret = newSecret();
  const tmp = tempPath(path);
  await writeFile(tmp, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(tmp, path);
    return secret;
  } catch (err) {
    if (isCode(err, 'EEXIST')) return (await readFile(path, 'utf8')).trim();
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
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
  const tmp = tempPath(path);
  writeFileSync(tmp, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, path);
    return secret;
  } catch (err) {
    if (isCode(err, 'EEXIST')) return readSecretFileSync(path);
    throw err;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  }
}
