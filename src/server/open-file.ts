import { accessSync, constants, existsSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Opens one of the files the gateway keeps (the usage log, the quota counters beside it, the key store), or throws an
 * error naming the config key and the path. SQLite's own words ("unable to open database file", "database or disk is
 * full") name neither: with a read-only data directory the start ended with `infergate: unable to open database file`
 * and the operator could not tell which file of which section, nor why.
 */
export function openConfiguredFile<T>(key: string, path: string, open: () => T): T {
  try {
    return open();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`${key}: cannot open ${path}: ${reason}${accessHint(path)}`, { cause: err });
  }
}

/** Why SQLite could not open the file when the file system says so: the directory or the file refuses writes. */
function accessHint(path: string): string {
  const dir = dirname(path);
  // A missing directory is in SQLite's own message ("the directory does not exist").
  if (!existsSync(dir)) return '';
  for (const target of existsSync(path) ? [path, dir] : [dir]) {
    try {
      accessSync(target, constants.R_OK | constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      const what = target === dir ? 'its directory' : 'the file';
      return ` (${what} is not writable: ${code === 'EROFS' ? 'read-only file system' : code})`;
    }
  }
  return '';
}
