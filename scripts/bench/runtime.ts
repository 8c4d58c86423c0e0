/**
 * How the Node rows (simulator, floor, infergate) are run. Default: the TypeScript compiled once with the project's
 * own tsc into bench/tmp/dist (what the Docker image runs), so no loader hook thread or transpiler sits in the
 * measured processes. `--runtime tsx` runs the sources through tsx instead.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';

export type RuntimeKind = 'compiled' | 'tsx';

export interface Runtime {
  kind: RuntimeKind;
  /** Node arguments + script path for a source file given relative to the repo root (e.g. `src/main.ts`). */
  nodeArgs(sourceFile: string): string[];
  note: string;
}

/** The project's tsc, found the way Node finds packages (so a copy of the tree inside the repo uses the same one). */
function tscPath(root: string): string {
  return createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
}

export function prepareRuntime(root: string, tmp: string, want: RuntimeKind, log: (s: string) => void): Runtime {
  const tsx = (note: string): Runtime => ({
    kind: 'tsx',
    nodeArgs: (f) => ['--import', 'tsx', resolve(root, f)],
    note,
  });
  if (want === 'tsx') return tsx('sources run with `node --import tsx`');

  const out = join(tmp, 'dist');
  const tsconfig = join(tmp, 'tsconfig.bench.json');
  mkdirSync(tmp, { recursive: true });
  const rel = (p: string) => relative(tmp, resolve(root, p));
  writeFileSync(
    tsconfig,
    JSON.stringify(
      {
        extends: rel('tsconfig.json'),
        compilerOptions: { outDir: rel(out), rootDir: rel('.'), sourceMap: true, noEmit: false, declaration: false, incremental: false },
        include: [rel('src'), rel('scripts/bench')],
      },
      null,
      2,
    ),
  );
  log('compiling src/ and scripts/bench/ with tsc into bench/tmp/dist ...');
  const tsc = tscPath(root);
  // Type errors elsewhere in a work-in-progress tree do not stop tsc from emitting; missing output does.
  const r = spawnSync(process.execPath, [tsc, '-p', tsconfig], { cwd: root, encoding: 'utf8' });
  const main = join(out, 'src/main.js');
  if (!existsSync(main)) {
    log(`tsc emitted nothing (${(r.stdout + r.stderr).slice(0, 400)}); falling back to tsx`);
    return tsx('sources run with `node --import tsx` (tsc emitted nothing)');
  }
  const typeErrors = (r.stdout.match(/error TS\d+/g) ?? []).length;
  // What `npm run build` copies beside the compiled code: the console's committed assets, read at start.
  cpSync(resolve(root, 'src/console/assets'), join(out, 'src/console/assets'), { recursive: true });
  return {
    kind: 'compiled',
    nodeArgs: (f) => [join(out, f.replace(/\.ts$/, '.js'))],
    note: `compiled with tsc, run with plain \`node\`${typeErrors ? ` (tsc reported ${typeErrors} type error(s) in the tree; output emitted anyway)` : ''}`,
  };
}

/**
 * A/B: compiles another tree's src/ (a copy of the repo with a candidate hot-path change) so that a patched gateway
 * runs as an extra row in the same interleaved run as the current one. Only src/main.ts is run from it.
 */
export function prepareAltRuntime(root: string, tmp: string, altRoot: string, log: (s: string) => void): Runtime {
  const out = join(tmp, 'ab-dist');
  const tsconfig = join(tmp, 'tsconfig.ab.json');
  const rel = (p: string) => relative(tmp, resolve(p));
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: rel(join(root, 'tsconfig.json')),
      compilerOptions: { outDir: rel(out), rootDir: rel(altRoot), sourceMap: true, noEmit: false, declaration: false, incremental: false },
      include: [rel(join(altRoot, 'src'))],
    }),
  );
  log(`compiling ${altRoot}/src for the A/B row ...`);
  spawnSync(process.execPath, [tscPath(root), '-p', tsconfig], { cwd: root, encoding: 'utf8' });
  if (!existsSync(join(out, 'src/main.js'))) throw new Error(`tsc emitted nothing for ${altRoot}/src`);
  cpSync(join(resolve(altRoot), 'src/console/assets'), join(out, 'src/console/assets'), { recursive: true });
  return { kind: 'compiled', nodeArgs: (f) => [join(out, f.replace(/\.ts$/, '.js'))], note: `A/B tree ${altRoot}` };
}
