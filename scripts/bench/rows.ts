/**
 * The rows of the overhead table: how each proxy is started, pinned, pointed at the simulator and probed. Every row
 * gives two targets: `fast` (the fixed-response simulator) and `paced` (the paced-stream simulator).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { SignJWT } from 'jose';
import { probe, type Target } from './loadgen.js';
import { freePort, PROXY_CPU, spawnChild, waitForLine, waitForPort, waitUntil, type Child } from './procs.js';
import type { Runtime } from './runtime.js';
import { CHAT_BODY, CHAT_PATH, FAST_MODEL, PACED_MODEL, UPSTREAM_HEADER } from './workload.js';

export interface SimPorts {
  fast: number;
  paced: number;
}

export interface RowEnv {
  root: string;
  tmp: string;
  runtime: Runtime;
  sim: SimPorts;
  /** Extra node flags for the infergate rows (the profiler passes --cpu-prof here). */
  gatewayNodeFlags?: string[];
  log(s: string): void;
}

export interface RunningRow {
  fast: Target;
  paced: Target;
  /** The measured process (RSS, CPU), or null for the direct row. */
  child: Child | null;
  /** What this row had on, for the table. */
  features: string;
  /** Checks after the run (e.g. the usage log really has rows); appended to `features`. */
  afterRun?(): string | Promise<string>;
}

export interface RowDef {
  id: number;
  key: string;
  label: string;
  start(env: RowEnv): Promise<RunningRow>;
}

const simOrigin = (port: number) => `http://127.0.0.1:${port}`;

// ---------------------------------------------------------------- 1. direct

const direct: RowDef = {
  id: 1,
  key: 'direct',
  label: 'direct to simulator',
  async start(env) {
    return {
      fast: { origin: simOrigin(env.sim.fast), headers: {} },
      paced: { origin: simOrigin(env.sim.paced), headers: {} },
      child: null,
      features: 'no proxy (the zero-overhead limit)',
    };
  },
};

// ---------------------------------------------------------------- 2. floor

const floor: RowDef = {
  id: 2,
  key: 'floor',
  label: 'Node floor (node:http + undici Pool)',
  async start(env) {
    const port = await freePort();
    const child = spawnChild({
      name: 'floor',
      command: process.execPath,
      args: [...env.runtime.nodeArgs('scripts/bench/floor-proxy.ts'), '--port', String(port), '--fast', simOrigin(env.sim.fast), '--paced', simOrigin(env.sim.paced), '--exit-with-stdin'],
      cpu: PROXY_CPU,
      cwd: env.root,
      stdinPipe: true,
    });
    await waitForLine(child, /listening (\d+)/);
    const origin = `http://127.0.0.1:${port}`;
    return {
      fast: { origin, headers: {} },
      paced: { origin, headers: { [UPSTREAM_HEADER]: 'paced' } },
      child,
      features: 'reads the body, Pool.request, pipes the answer; no parsing',
    };
  },
};

// ---------------------------------------------------------------- 3, 4 and 5. infergate

interface GatewayVariant {
  /** Top-level config sections merged over the base config. */
  sections: Record<string, unknown>;
  /** Names of the features `sections` turns on, with the config key each needs (to drop it if the schema lacks it). */
  features: { name: string; key: string }[];
}

function checkConfig(env: RowEnv, file: string): { ok: boolean; output: string } {
  const r = spawnSync(process.execPath, [...env.runtime.nodeArgs('src/main.ts'), 'check-config', file], { cwd: env.root, encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

/** Removes a dotted key (`telemetry.metrics`) from a config object. */
function dropKey(cfg: Record<string, unknown>, key: string): void {
  const parts = key.split('.');
  let o: Record<string, unknown> | undefined = cfg;
  for (const p of parts.slice(0, -1)) o = o?.[p] as Record<string, unknown> | undefined;
  if (o) delete o[parts[parts.length - 1]!];
}

/**
 * Writes the config and validates it with `infergate check-config`. Sections the schema does not know yet (auth,
 * limits and usage are being built) are dropped one by one, so the row runs with what exists and says so.
 */
function writeGatewayConfig(env: RowEnv, key: string, port: number, v: GatewayVariant): { file: string; on: string[]; missing: string[] } {
  const cfg: Record<string, unknown> = {
    server: { listen: `127.0.0.1:${port}`, drain: '1s' },
    models: [
      { name: FAST_MODEL, backends: [{ url: simOrigin(env.sim.fast) }] },
      { name: PACED_MODEL, backends: [{ url: simOrigin(env.sim.paced) }] },
    ],
    ...structuredClone(v.sections),
  };
  const file = join(env.tmp, `infergate-${key}.yaml`);
  const on = v.features.map((f) => f.name);
  const missing: string[] = [];
  for (let attempt = 0; attempt <= v.features.length; attempt++) {
    // JSON is YAML: the file is the config object as is.
    writeFileSync(file, `${JSON.stringify(cfg, null, 2)}\n`);
    const r = checkConfig(env, file);
    if (r.ok) return { file, on, missing };
    const culprit = v.features.find((f) => on.includes(f.name) && new RegExp(`: ${f.key.replace('.', '\\.')}(\\W|$)`).test(r.output));
    if (!culprit) throw new Error(`the ${key} config does not validate:\n${r.output}`);
    dropKey(cfg, culprit.key);
    on.splice(on.indexOf(culprit.name), 1);
    missing.push(culprit.name);
  }
  throw new Error(`the ${key} config does not validate`);
}

const BENCH_ISSUER = 'infergate-bench';
const BENCH_AUDIENCE = 'infergate';
const BENCH_SECRET = randomBytes(48).toString('base64url');

async function benchToken(scope = 'models:bench-*'): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope, team: 'bench' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject('bench-client')
    .setIssuer(BENCH_ISSUER)
    .setAudience(BENCH_AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(new TextEncoder().encode(BENCH_SECRET));
}

async function startGatewayRow(env: RowEnv, key: string, v: GatewayVariant): Promise<{ row: RunningRow; on: string[]; missing: string[]; logFile: string }> {
  const port = await freePort();
  const { file, on, missing } = writeGatewayConfig(env, key, port, v);
  const logFile = join(env.tmp, `infergate-${key}.log`);
  const child = spawnChild({
    name: `infergate (${key})`,
    command: process.execPath,
    args: [...(env.gatewayNodeFlags ?? []), ...env.runtime.nodeArgs('src/main.ts'), '--config', file],
    cpu: PROXY_CPU,
    cwd: env.root,
    logFile,
  });
  const origin = `http://127.0.0.1:${port}`;
  await waitForPort(child, port);
  await waitUntil(child, async () => (await probe(origin, '/healthz', null)).status === 200);
  const headers: Record<string, string> = on.includes('auth') ? { authorization: `Bearer ${await benchToken()}` } : {};
  return {
    row: { fast: { origin, headers }, paced: { origin, headers }, child, features: '' },
    on,
    missing,
    logFile,
  };
}

/** Row 3, or (A/B) the same configuration run from another source tree. */
export function leanRow(id: number, key: string, label: string, runtime?: Runtime): RowDef {
  return {
    id,
    key,
    label,
    start: (env) => startLean(runtime ? { ...env, runtime } : env, key),
  };
}

const infergateLean = leanRow(3, 'infergate', 'infergate (auth, limits, usage off)');

async function startLean(env: RowEnv, key: string): Promise<RunningRow> {
  {
    const v: GatewayVariant = {
      sections: {
        auth: 'none',
        limits: [],
        usage: false,
        telemetry: { metrics: false, tracing: false, log_level: 'warn' },
      },
      features: [
        { name: 'auth', key: 'auth' },
        { name: 'limits', key: 'limits' },
        { name: 'usage', key: 'usage' },
      ],
    };
    const { row } = await startGatewayRow(env, key === 'infergate' ? 'lean' : key, v);
    row.features = 'auth none, no limits, no usage log, metrics off, tracing off, log level warn (no per-request line)';
    return row;
  }
}

/** Row 4, or (A/B) the same configuration run from another source tree. */
export function governanceRow(id: number, key: string, label: string, runtime?: Runtime, writerThread?: boolean): RowDef {
  return { id, key, label, start: (env) => startGoverned(runtime ? { ...env, runtime } : env, key, false, writerThread) };
}

const infergateGoverned = governanceRow(4, 'infergate-gov', 'infergate governance (JWT + limits + usage log)');

/** Row 5, or (A/B) the same configuration run from another source tree. */
export function fullRow(id: number, key: string, label: string, runtime?: Runtime): RowDef {
  return { id, key, label, start: (env) => startGoverned(runtime ? { ...env, runtime } : env, key, true) };
}

const infergateFull = fullRow(5, 'infergate-full', 'infergate full stack');

/**
 * Rows 4 and 5: governance on (JWT verification, limits, usage log). Row 4 keeps telemetry as row 3 has it, so the
 * difference between rows 3 and 4 is the governance path alone; row 5 adds metrics and the per-request log line.
 */
async function startGoverned(env: RowEnv, key: string, telemetry: boolean, writerThread?: boolean): Promise<RunningRow> {
  {
    // One file per row, emptied at each start: a run never reads the previous one's rows, and bench/tmp stays small.
    const usageDb = join(env.tmp, `usage-${key}.sqlite`);
    for (const f of [usageDb, `${usageDb}-wal`, `${usageDb}-shm`]) rmSync(f, { force: true });
    const v: GatewayVariant = {
      sections: {
        auth: { issuers: [{ issuer: BENCH_ISSUER, audience: BENCH_AUDIENCE, algorithms: ['HS256'], secret: BENCH_SECRET }] },
        // Generous enough never to reject: the cost of checking is what is measured.
        limits: [{ match: { subject: '*' }, rpm: 1_000_000_000, tpm: 1_000_000_000_000, concurrency: 1_000_000 }],
        usage: { sqlite: usageDb, ...(writerThread === undefined ? {} : { writer_thread: writerThread }) },
        telemetry: telemetry ? { metrics: true, tracing: false, log_level: 'info' } : { metrics: false, tracing: false, log_level: 'warn' },
      },
      features: [
        { name: 'auth', key: 'auth' },
        { name: 'limits', key: 'limits' },
        { name: 'usage', key: 'usage' },
        ...(telemetry ? [{ name: 'metrics', key: 'telemetry.metrics' }] : []),
      ],
    };
    const { row, on, missing, logFile } = await startGatewayRow(env, key === 'infergate-full' ? 'full' : key === 'infergate-gov' ? 'gov' : key, v);
    // The config saying a feature is on is not proof that the running gateway does it: probe each one.
    const origin = row.fast.origin;
    const verified: string[] = [];
    const inactive: string[] = [];
    const mark = (name: string, ok: boolean) => (ok ? verified : inactive).push(name);
    if (on.includes('auth')) mark('JWT auth', (await probe(origin, CHAT_PATH, CHAT_BODY)).status === 401);
    const ok = await probe(origin, CHAT_PATH, CHAT_BODY, row.fast.headers);
    if (ok.status !== 200) throw new Error(`full-stack infergate answered ${ok.status}: ${ok.text.slice(0, 300)}`);
    if (on.includes('limits')) mark('limits', Object.keys(ok.headers).some((h) => h.startsWith('x-ratelimit-')));
    if (on.includes('metrics')) {
      // /metrics is an admin route when auth is on.
      const admin: Record<string, string> = on.includes('auth') ? { authorization: `Bearer ${await benchToken('admin')}` } : {};
      const m = await probe(origin, '/metrics', null, admin);
      mark('metrics', m.status === 200 && m.text.includes('# TYPE'));
    }
    const logBefore = lineCount(logFile);
    row.features = describeFull(verified, inactive, missing, 'tracing off');
    row.afterRun = async () => {
      if (on.includes('usage')) mark('usage log', existsSync(usageDb) && statSync(usageDb).size > 0);
      if (telemetry) mark('request log', lineCount(logFile) > logBefore + 100);
      const notes = [telemetry ? 'tracing off' : 'metrics off, tracing off, log level warn (no per-request line)'];
      if (on.includes('usage') && on.includes('metrics')) notes.push(await usageWriterReport(origin, on.includes('auth')));
      return describeFull(verified, inactive, missing, notes.join('; '));
    };
    return row;
  }
}

/** Row 5's features on top of row 3, for `--split` (scripts/bench/feature-split.ts). */
export const SPLIT_FEATURES = ['auth', 'limits', 'usage', 'metrics', 'log'] as const;
export type SplitFeature = (typeof SPLIT_FEATURES)[number];

/** Row 3 with `on` of row 5's features (none: row 3's config; all: row 5's), checked to answer with them. */
export function splitRow(id: number, key: string, label: string, on: readonly SplitFeature[]): RowDef {
  return {
    id,
    key,
    label,
    async start(env) {
      const usageDb = join(env.tmp, `usage-${key}.sqlite`);
      for (const f of [usageDb, `${usageDb}-wal`, `${usageDb}-shm`]) rmSync(f, { force: true });
      const v: GatewayVariant = {
        sections: {
          auth: on.includes('auth') ? { issuers: [{ issuer: BENCH_ISSUER, audience: BENCH_AUDIENCE, algorithms: ['HS256'], secret: BENCH_SECRET }] } : 'none',
          limits: on.includes('limits') ? [{ match: { subject: '*' }, rpm: 1_000_000_000, tpm: 1_000_000_000_000, concurrency: 1_000_000 }] : [],
          usage: on.includes('usage') ? { sqlite: usageDb } : false,
          telemetry: { metrics: on.includes('metrics'), tracing: false, log_level: on.includes('log') ? 'info' : 'warn' },
        },
        features: on.includes('auth') ? [{ name: 'auth', key: 'auth' }] : [],
      };
      const { row, logFile } = await startGatewayRow(env, key, v);
      const ok = await probe(row.fast.origin, CHAT_PATH, CHAT_BODY, row.fast.headers);
      if (ok.status !== 200) throw new Error(`${key} answered ${ok.status}: ${ok.text.slice(0, 300)}`);
      if (on.includes('auth') && (await probe(row.fast.origin, CHAT_PATH, CHAT_BODY)).status !== 401) throw new Error(`${key}: no 401 without a token`);
      if (on.includes('limits') !== Object.keys(ok.headers).some((h) => h.startsWith('x-ratelimit-'))) throw new Error(`${key}: x-ratelimit-* headers do not match the config`);
      const logBefore = lineCount(logFile);
      row.features = on.length ? `row 3 + ${on.join(' + ')}` : 'row 3';
      row.afterRun = () => `${row.features}${on.includes('log') ? `; ${lineCount(logFile) - logBefore} request lines` : ''}`;
      return row;
    },
  };
}

/** Whether the usage writer kept up with the load: its queue and backpressure counters, read from /metrics. */
async function usageWriterReport(origin: string, auth: boolean): Promise<string> {
  const m = await probe(origin, '/metrics', null, auth ? { authorization: `Bearer ${await benchToken('admin')}` } : {});
  const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(m.text)?.[1] ?? Number.NaN);
  const written = value('infergate_usage_rows_written_total');
  const queued = value('infergate_usage_queue_length');
  const sync = value('infergate_usage_sync_flushes_total');
  const dropped = value('infergate_usage_rows_dropped_total');
  return `usage writer after the run: ${written} rows written, ${queued} queued, ${sync} synchronous flushes (backpressure), ${dropped} dropped`;
}

function lineCount(file: string): number {
  try {
    return readFileSync(file, 'utf8').split('\n').length;
  } catch {
    return 0;
  }
}

function describeFull(verified: string[], inactive: string[], missing: string[], extra: string): string {
  const parts = [`on: ${verified.join(', ') || 'nothing verified'}`, extra];
  if (inactive.length) parts.push(`configured but not active yet: ${inactive.join(', ')}`);
  if (missing.length) parts.push(`not in the config schema yet: ${missing.join(', ')}`);
  return parts.join('; ');
}

// ---------------------------------------------------------------- 6. Portkey

export const PORTKEY_VERSION = '1.15.2';
/**
 * Portkey's published package takes `@hono/node-server@^1.3.3`; npm now resolves that to 1.19.x, whose lightweight
 * Response keeps the upstream fetch Response's immutable Headers, and every streamed request then fails with
 * "TypeError: immutable" (Portkey appends its headers to it). 1.13.8 is the last release without that behaviour,
 * so the bench pins it: a working Portkey, as its own lockfile would give.
 */
const PORTKEY_NODE_SERVER = '1.13.8';

function installPortkey(env: RowEnv): string {
  const dir = join(env.tmp, `portkey-${PORTKEY_VERSION}-hns${PORTKEY_NODE_SERVER}`);
  const entry = join(dir, 'node_modules/@portkey-ai/gateway/build/start-server.js');
  const installed = join(dir, 'node_modules/@portkey-ai/gateway/package.json');
  if (existsSync(entry) && JSON.parse(readFileSync(installed, 'utf8')).version === PORTKEY_VERSION) return entry;
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify(
      {
        name: 'bench-portkey',
        private: true,
        dependencies: { '@portkey-ai/gateway': PORTKEY_VERSION, '@hono/node-server': PORTKEY_NODE_SERVER },
        overrides: { '@hono/node-server': PORTKEY_NODE_SERVER },
      },
      null,
      2,
    ),
  );
  env.log(`installing @portkey-ai/gateway@${PORTKEY_VERSION} into ${dir} ...`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['install', '--prefix', dir, '--no-audit', '--no-fund', '--omit=dev', '--ignore-scripts', '--no-package-lock'], {
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (r.status !== 0 || !existsSync(entry)) throw new Error(`npm install failed: ${(r.stderr || r.stdout || String(r.error)).trim().slice(-400)}`);
  return entry;
}

const portkey: RowDef = {
  id: 6,
  key: 'portkey',
  label: `Portkey gateway ${PORTKEY_VERSION}`,
  async start(env) {
    const entry = installPortkey(env);
    const port = await freePort();
    const child = spawnChild({
      name: 'portkey',
      command: process.execPath,
      args: [entry, `--port=${port}`, '--headless'],
      cpu: PROXY_CPU,
      env: { ...process.env, NODE_ENV: 'production' },
      logFile: join(env.tmp, 'portkey.log'),
    });
    await waitForPort(child, port);
    const origin = `http://127.0.0.1:${port}`;
    const base = { 'x-portkey-provider': 'openai', authorization: 'Bearer sk-bench' };
    return {
      fast: { origin, headers: { ...base, 'x-portkey-custom-host': `${simOrigin(env.sim.fast)}/v1` } },
      paced: {
        origin,
        headers: { ...base, 'x-portkey-custom-host': `${simOrigin(env.sim.paced)}/v1` },
      },
      child,
      features: `npm package, node ${process.version}, NODE_ENV=production, provider openai + custom host; @hono/node-server pinned to ${PORTKEY_NODE_SERVER} (see NOTES)`,
    };
  },
};

// ---------------------------------------------------------------- 7. nginx

export function findNginx(): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = join(dir, 'nginx');
    if (dir && existsSync(p)) return p;
  }
  return null;
}

const nginx: RowDef = {
  id: 7,
  key: 'nginx',
  label: 'nginx reverse proxy',
  async start(env) {
    const bin = findNginx();
    if (!bin) throw new Error('nginx is not on PATH');
    const dir = join(env.tmp, 'nginx');
    mkdirSync(join(dir, 'temp'), { recursive: true });
    const port = await freePort();
    const version = spawnSync(bin, ['-v'], { encoding: 'utf8' }).stderr.trim().replace(/^nginx version: /, '');
    const conf = `# written by scripts/bench-overhead.ts
daemon off;
master_process off;
worker_processes 1;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/temp/body;
  proxy_temp_path ${dir}/temp/proxy;
  fastcgi_temp_path ${dir}/temp/fastcgi;
  uwsgi_temp_path ${dir}/temp/uwsgi;
  scgi_temp_path ${dir}/temp/scgi;
  upstream bench_fast { server 127.0.0.1:${env.sim.fast}; keepalive 128; keepalive_requests 1000000; }
  upstream bench_paced { server 127.0.0.1:${env.sim.paced}; keepalive 32; keepalive_requests 1000000; }
  map $http_${UPSTREAM_HEADER.replace(/-/g, '_')} $bench_upstream { default bench_fast; paced bench_paced; }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    location / {
      proxy_pass http://$bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`;
    writeFileSync(join(dir, 'nginx.conf'), conf);
    const child = spawnChild({ name: 'nginx', command: bin, args: ['-p', dir, '-c', join(dir, 'nginx.conf')], cpu: PROXY_CPU, logFile: join(dir, 'stdout.log') });
    await waitForPort(child, port);
    const origin = `http://127.0.0.1:${port}`;
    return {
      fast: { origin, headers: {} },
      paced: { origin, headers: { [UPSTREAM_HEADER]: 'paced' } },
      child,
      features: `${version}, 1 worker (master_process off), upstream keepalive 128, proxy_buffering off`,
    };
  },
};

export const ROWS: readonly RowDef[] = [direct, floor, infergateLean, infergateGoverned, infergateFull, portkey, nginx];
