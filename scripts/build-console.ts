/**
 * Builds the console's front end (src/console/web) into src/console/assets/console.{js,css} with esbuild: one
 * minified ES module and one stylesheet, everything inlined (Preact, uPlot), nothing fetched at run time. The output
 * is committed so that `npm start` needs no build step and no network; test/console/bundle.test.ts fails when it is
 * stale. `--check` builds in memory and exits 1 when the committed files differ.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

export async function buildConsole(): Promise<Map<string, Uint8Array>> {
  const result = await build({
    entryPoints: [`${root}src/console/web/main.tsx`],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2020'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: `${root}src/console/assets`,
    entryNames: 'console',
    write: false,
    legalComments: 'none',
    logLevel: 'warning',
    tsconfig: `${root}src/console/web/tsconfig.json`,
  });
  const out = new Map<string, Uint8Array>();
  for (const f of result.outputFiles) out.set(f.path, f.contents);
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const files = await buildConsole();
  let stale = false;
  for (const [path, bytes] of files) {
    const name = path.slice(root.length);
    if (process.argv.includes('--check')) {
      const committed = await readFile(path).catch(() => Buffer.alloc(0));
      if (!committed.equals(Buffer.from(bytes))) {
        stale = true;
        process.stderr.write(`${name} is stale: run npm run build:console\n`);
      }
    } else {
      await writeFile(path, bytes);
    }
    process.stdout.write(`${name}: ${bytes.length} bytes, ${gzipSync(bytes, { level: 9 }).length} gzipped\n`);
  }
  process.exitCode = stale ? 1 : 0;
}
