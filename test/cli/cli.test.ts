import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const BIN = resolve('bin/infergate.mjs');
const run = promisify(execFile);

test('--help prints the usage of every command and --version the package version', async () => {
  const { stdout } = await run(process.execPath, [BIN, '--help']);
  for (const cmd of ['infergate [--config FILE]', 'infergate check-config', 'infergate token --sub', 'infergate usage', 'infergate usage export', 'infergate healthcheck', '--version']) {
    assert.ok(stdout.includes(cmd), `help mentions ${cmd}`);
  }
  for (const option of ['--secret-file', '--scope', '--ttl', '--since', '--by', '--db', '--format', 'INFERGATE_CONFIG']) assert.ok(stdout.includes(option), option);
  const version = await run(process.execPath, [BIN, '--version']);
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
  assert.equal(version.stdout.trim(), `infergate ${pkg.version}`);
});

test('check-config counts the model the sim section serves', async () => {
  const { stdout } = await run(process.execPath, [BIN, 'check-config', 'config/default.yaml']);
  assert.match(stdout, /OK \(1 model\(s\): sim-llama-8b; sim with 2 replica\(s\)\)/);
});

test('check-config loads key material as the start would, and creates no file doing it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ig-check-'));
  try {
    const cfg = (issuer: string) =>
      `server: { listen: 127.0.0.1:1 }\nauth:\n  issuers:\n    - { issuer: x, audience: y, ${issuer} }\nmodels:\n  - { name: m, backends: [{ url: "http://127.0.0.1:1" }] }\n`;
    const cases: [string, RegExp | null][] = [
      ['algorithms: [RS256], public_key: "-----BEGIN PUBLIC KEY-----\\nnot a key\\n-----END PUBLIC KEY-----"', /auth\.issuers\[0\]\.public_key: .*PEM/],
      ['algorithms: [HS256], secret_file: ./missing/secret', /auth\.issuers\[0\]\.secret_file: cannot read secret_file .*ENOENT/],
      ['algorithms: [HS256], secret_file: ./made/secret, generate_if_missing: true', null],
    ];
    for (const [issuer, problem] of cases) {
      writeFileSync(join(dir, 'gw.yaml'), cfg(issuer));
      const r = await run(process.execPath, [BIN, 'check-config', join(dir, 'gw.yaml')]).then(
        (ok) => ({ code: 0, stderr: ok.stderr }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
      if (problem === null) assert.equal(r.code, 0, r.stderr);
      else {
        assert.equal(r.code, 1, issuer);
        assert.match(r.stderr, problem);
      }
    }
    assert.throws(() => readFileSync(join(dir, 'made/secret')), /ENOENT/, 'check-config created no secret file');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Starts the gateway CLI on a config and resolves with its banner; the process is stopped afterwards. */
async function banner(config: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ig-cli-'));
  writeFileSync(join(dir, 'gw.yaml'), config);
  const child = spawn(process.execPath, [BIN, '--config', join(dir, 'gw.yaml')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, INFERGATE_CONFIG: '' } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    await new Promise<void>((resolveBanner, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner: ${out} ${err}`)), 60_000);
      child.stdout.on('data', () => {
        if (out.includes('try: curl')) {
          clearTimeout(timer);
          resolveBanner();
        }
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
    });
    return out;
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

const SIM = 'sim: { replicas: 1, time_scale: 0.02 }\nusage: false\n';

test('the start banner\'s curl line carries the token and the address the server is bound to', async () => {
  const dev = await banner(`server: { listen: "127.0.0.1:0" }
auth:
  issuers:
    - { issuer: infergate-dev, audience: infergate, secret_file: ./dev-secret, generate_if_missing: true, algorithms: [HS256] }
${SIM}`);
  const curl = dev.split('\n').find((l) => l.includes('try: curl')) ?? '';
  assert.match(curl, /curl http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions -H "Authorization: Bearer \$INFERGATE_TOKEN"/);
  assert.doesNotMatch(dev, /localhost/);
  assert.match(dev, /export INFERGATE_TOKEN=eyJ/);

  const other = await banner(`server: { listen: "127.0.0.1:0" }
auth:
  issuers:
    - { issuer: corp, audience: infergate, secret: "0123456789abcdef0123456789abcdef", algorithms: [HS256] }
${SIM}`);
  assert.match(other, /try: curl http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions -H "Authorization: Bearer \$INFERGATE_TOKEN"/);
  assert.match(other, /authentication is on: export INFERGATE_TOKEN=/);

  const open = await banner(`server: { listen: "127.0.0.1:0" }\nauth: none\n${SIM}`);
  assert.doesNotMatch(open, /Authorization/);
});

test('usage before any usage log says to start the gateway, without burying it under the usage text', async () => {
  for (const args of [['usage', '--db', '/nonexistent/usage.db'], ['usage', 'export', '--db', '/nonexistent/usage.db']]) {
    const r = await run(process.execPath, [BIN, ...args]).catch((e: { code: number; stderr: string }) => e);
    assert.equal((r as { code: number }).code, 2);
    const stderr = (r as { stderr: string }).stderr;
    assert.match(stderr, /no usage log at \/nonexistent\/usage\.db: start the gateway first/);
    assert.doesNotMatch(stderr, /usage: npm run/);
  }
});
