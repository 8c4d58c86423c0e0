import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { closeAll, startSims, startTestGateway } from '../helpers/harness.js';

const run = promisify(execFile);
const dockerfile = readFileSync('Dockerfile', 'utf8');
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } };

/** The exec-form commands of CMD and HEALTHCHECK lines. */
function execForms(kind: 'CMD' | 'HEALTHCHECK'): string[][] {
  const text = dockerfile.replace(/\\\n\s*/g, ' ');
  return [...text.matchAll(new RegExp(`^${kind}\\b.*?(\\[.*\\])\\s*$`, 'gm'))].map((m) => JSON.parse(m[1]!) as string[]);
}

describe('the Docker image', () => {
  test('builds on one Node LTS line that package.json engines and better-sqlite3 both accept', () => {
    const majors = [...dockerfile.matchAll(/^FROM node:(\d+)-/gm)].map((m) => Number(m[1]));
    assert.ok(majors.length >= 2);
    assert.equal(new Set(majors).size, 1, 'build and run stages use the same Node');
    const major = majors[0]!;
    // Node 20 reached its end of life in April 2026; from Node 27 on every major line becomes LTS, so no parity rule.
    assert.ok(major >= 22, `Node ${major} is not past its end of life`);
    assert.ok(pkg.engines.node.includes(`${major}.x`), `engines (${pkg.engines.node}) admits Node ${major}`);
    const sqlite = JSON.parse(readFileSync('node_modules/better-sqlite3/package.json', 'utf8')) as { engines: { node: string } };
    assert.ok(sqlite.engines.node.includes(`${major}.x`), `better-sqlite3 supports Node ${major}`);
  });

  test('keeps the data directory on a volume and checks health through the CLI', () => {
    assert.match(dockerfile, /^VOLUME \["\/app\/data"\]/m);
    assert.deepEqual(execForms('HEALTHCHECK'), [['node', 'bin/infergate.mjs', 'healthcheck']]);
    assert.deepEqual(execForms('CMD').at(-1), ['node', 'bin/infergate.mjs']);
  });

  test('compiles and copies every command main.ts dispatches to (token, usage, keys, …)', () => {
    const main = readFileSync('src/main.ts', 'utf8');
    const tools = [...(/const TOOLS[^=]*=\s*\{([^}]*)\}/.exec(main)?.[1] ?? '').matchAll(/'\.\.\/(scripts\/[\w-]+)\.js'/g)].map((m) => m[1]!);
    assert.ok(tools.length >= 2, 'TOOLS found in src/main.ts');
    const build = JSON.parse(readFileSync('tsconfig.build.json', 'utf8')) as { include: string[] };
    const copied = /^COPY ((?:scripts\/[\w-]+\.ts )+)\.\/scripts\/$/m.exec(dockerfile)?.[1]?.trim().split(' ') ?? [];
    for (const t of tools) {
      assert.ok(existsSync(`${t}.ts`), `${t}.ts exists`);
      assert.ok(build.include.includes(`${t}.ts`), `tsconfig.build.json compiles ${t}.ts`);
      assert.ok(copied.includes(`${t}.ts`), `the Dockerfile copies ${t}.ts into the build stage`);
    }
  });

  describe('its commands run from the compiled build (no tsx, no sources)', () => {
    let app: string;
    before(async () => {
      // What the image holds: dist/ from the build config, bin/, package.json and node_modules.
      app = mkdtempSync(join(tmpdir(), 'ig-image-'));
      await run(process.execPath, [resolve('node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(app, 'dist'), '--noCheck', '--sourceMap', 'false']);
      cpSync('bin', join(app, 'bin'), { recursive: true });
      cpSync('package.json', join(app, 'package.json'));
      symlinkSync(resolve('node_modules'), join(app, 'node_modules'));
      mkdirSync(join(app, 'data'));
    });
    after(() => rmSync(app, { recursive: true, force: true }));
    const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => run(process.execPath, [join(app, 'bin/infergate.mjs'), ...args], { cwd: app, env: { ...process.env, ...env } });

    test('every command the image runs exists in the build output', async () => {
      for (const f of ['dist/src/main.js', 'dist/scripts/token.js', 'dist/scripts/usage-cli.js', 'dist/scripts/keys-cli.js']) assert.ok(existsSync(join(app, f)), f);
      assert.ok(!existsSync(join(app, 'src')), 'no sources beside the build');
      const version = await cli(['--version']);
      assert.match(version.stdout, /^infergate \d+\.\d+\.\d+/);
      writeFileSync(join(app, 'data/dev-secret'), 'a-development-secret-of-at-least-32-bytes!!\n');
      const token = await cli(['token', '--sub', 'alice', '--scope', 'models:*']);
      assert.match(token.stdout.trim(), /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
      const usage = await cli(['usage', '--help']);
      assert.match(usage.stdout, /--since/);
    });

    test('healthcheck follows the config\'s listen port', async () => {
      const [sim] = await startSims(1);
      const gw = await startTestGateway([{ name: 'llama', backends: [{ url: sim!.url, model: 'sim-llama-8b' }] }]);
      const config = join(app, 'config.yaml');
      writeFileSync(config, `auth: none\nserver: { listen: "127.0.0.1:${gw.port}" }\nmodels: [{ name: x, backends: [{ url: "http://127.0.0.1:1" }] }]\n`);
      try {
        const ok = await cli(['healthcheck'], { INFERGATE_CONFIG: config });
        assert.equal(ok.stderr, '');
      } finally {
        await closeAll(gw, sim);
      }
      await assert.rejects(cli(['healthcheck', '--config', config]), (err: { code?: number }) => err.code === 1);
    });
  });
});
