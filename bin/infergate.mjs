#!/usr/bin/env node
// `infergate [--config FILE]` and `infergate check-config FILE`: runs the compiled gateway when built (Docker),
// the TypeScript sources through tsx otherwise.
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const compiled = resolve(root, 'dist/src/main.js');
if (existsSync(compiled)) {
  await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(resolve(root, 'src/main.ts')).href);
}
