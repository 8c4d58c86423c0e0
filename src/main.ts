// First: V8's heap settings must be in place before the gateway's modules allocate (server/heap-settings.ts).
import './server/heap-settings.js';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readFile } from 'node:fs/promises';
import { AuthConfigError, compileAuthConfig, DEV_ISSUER, ensureDevSecret, mintDevToken } from './auth/index.js';
import { ConfigError, formatProblem, loadConfigFile, type Config } from './config/index.js';
import cluster from 'node:cluster';
import { authKeyPath, bannerText, onStopSignals, runSupervisor, runWorker, resolveWorkers, startGateway } from './server/index.js';
import type { SimServer } from './sim/index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The package root: `src/..` from the sources, `dist/src/../..` when compiled. */
const PACKAGE_ROOT = [resolve(HERE, '..'), resolve(HERE, '../..')].find((d) => existsSync(resolve(d, 'package.json'))) ?? resolve(HERE, '..');

const HELP = `infergate — an OpenAI-compatible gateway for self-hosted inference servers

usage:
  infergate [--config FILE]
      Run the gateway. The config is FILE, else $INFERGATE_CONFIG, else ./config/default.yaml, else the built-in
      quick start (simulated backends, a development token printed at start). It is reloaded on change and on SIGHUP;
      SIGTERM / SIGINT drain in-flight requests for up to server.drain, a second signal exits at once.

  infergate check-config [FILE]
      Validate a config without starting: print every problem with file, line, column and YAML path; exit 1 on errors.

  infergate token --sub NAME [--team TEAM] [--scope "models:* admin"] [--ttl 1h]
                  [--secret-file ./data/dev-secret] [--issuer ${DEV_ISSUER}] [--audience infergate]
      Mint a development token signed with the quick start's secret; prints only the token.

  infergate usage [--since 24h | --from DATE [--to DATE]] [--by subject,team,key,model,backend,day]
                  [--subject NAME] [--key ID] [--db ./data/usage.db] [--csv]
  infergate usage export [--since 24h | --from DATE [--to DATE]] [--format csv|jsonl] [--db ./data/usage.db]
      Usage totals from the SQLite usage log as a table (or CSV), or its raw rows.

  infergate keys create --sub NAME [--team TEAM] --scope "models:* admin" [--label TEXT] [--ttl 90d]
                       [--rpm N] [--tpm N] [--concurrency N] [--tokens-per-day N] [--tokens-per-month N]
  infergate keys list [--all] | revoke ID | rotate ID [--overlap 10m]     (each takes --config FILE, --redis URL)
      Gateway-managed API keys on the config's key store (state.redis when set, else keys.sqlite); running gateways
      see changes within 250 ms.
      create and rotate print the new secret once, on stdout alone.

  infergate healthcheck [--config FILE]
      Exit 0 when the gateway of that config answers GET /healthz on its listen port (the Docker HEALTHCHECK).

  infergate --version | --help

environment:
  INFERGATE_CONFIG              the config file when --config is not given
  OTEL_EXPORTER_OTLP_ENDPOINT   turns tracing on (telemetry.tracing: auto), e.g. http://collector:4318
  \${NAME} in the config         replaced from the environment (\${NAME:-default} for a default)

Every config key: config/REFERENCE.md.
`;

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(resolve(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

/** The address to reach a listener on from this host: a wildcard bind is reached over loopback. */
function localHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/** For the Docker HEALTHCHECK: GET /healthz on the config's own listen port, so a changed port is followed. */
async function healthcheck(file: string): Promise<number> {
  const cfg = await loadConfigFile(file);
  const url = `http://${localHost(cfg.server.listen.host)}:${cfg.server.listen.port}/healthz`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    // A 401 (the probe path removed from auth.open_routes) still proves the process is up and answering.
    const alive = res.ok || res.status === 401;
    if (!alive) process.stderr.write(`${url}: ${res.status}\n`);
    return alive ? 0 : 1;
  } catch (err) {
    process.stderr.write(`${url}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/** Commands with their own argument parsers, run from the same binary (compiled in the Docker image). */
const TOOLS: Record<string, string> = { token: '../scripts/token.js', usage: '../scripts/usage-cli.js', keys: '../scripts/keys-cli.js' };

function defaultConfigPath(): string {
  const fromEnv = process.env.INFERGATE_CONFIG;
  if (fromEnv) return fromEnv;
  const local = resolve('config/default.yaml');
  return existsSync(local) ? local : resolve(PACKAGE_ROOT, 'config/default.yaml');
}

async function checkConfig(file: string): Promise<number> {
  try {
    const cfg = await loadConfigFile(file);
    // Key material as the gateway loads it at start (a PEM that does not parse, a secret_file that cannot be read),
    // without creating the files it would create.
    compileAuthConfig(cfg.auth, { baseDir: dirname(resolve(file)), createMissing: false });
    // The sim section serves its model too (unless a model of the same name is configured with it).
    const names = cfg.models.map((m) => m.name);
    if (cfg.sim && !names.includes(cfg.sim.model)) names.push(cfg.sim.model);
    process.stdout.write(`${file}: OK (${names.length} model(s): ${names.join(', ')}${cfg.sim ? `; sim with ${cfg.sim.replicas} replica(s)` : ''})\n`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
      process.stderr.write(`${err.problems.length} problem(s) found.\n`);
      return 1;
    }
    if (err instanceof AuthConfigError) {
      process.stderr.write(`${file}: ${authKeyPath(err)}: ${err.message}\n1 problem(s) found.\n`);
      return 1;
    }
    throw err;
  }
}

/** For the quick start: a day-long token from the development issuer's secret file, or null when there is none. */
async function devToken(cfg: Config): Promise<string | null> {
  if (cfg.auth === 'none') return null;
  const dev = cfg.auth.issuers.find((i) => i.issuer === DEV_ISSUER && i.secret_file);
  if (!dev?.secret_file) return null;
  // With workers the supervisor mints the token before any worker has compiled the config (which creates the file).
  const file = resolve(dev.secret_file);
  const secret = dev.generate_if_missing ? await ensureDevSecret(file) : (await readFile(file, 'utf8')).trim();
  const audience = Array.isArray(dev.audience) ? dev.audience[0] : dev.audience;
  return mintDevToken({ secret, sub: 'dev', scope: 'models:* admin', ttl: '24h', audience });
}

async function serve(file: string): Promise<void> {
  if (cluster.isWorker) return runWorker(file);
  const cfg = await loadConfigFile(file);
  let sims: SimServer[] = [];
  if (cfg.sim) {
    // Loaded only for a config with a sim section: it brings zeromq's native addon (its KV-event publisher).
    const { startSimFleet } = await import('./sim/index.js');
    sims = await startSimFleet(cfg.sim.replicas, {
      basePort: cfg.sim.base_port,
      model: cfg.sim.model,
      personality: cfg.sim.personality,
      engine: cfg.sim.engine,
      timeScale: cfg.sim.time_scale,
    });
  }
  const workers = resolveWorkers(cfg.server.workers);
  if (workers > 1) {
    const simUrls = sims.map((s) => s.url);
    return runSupervisor({ file, cfg, workers, simUrls, token: await devToken(cfg), onStopped: async () => void (await Promise.all(sims.map((s) => s.close()))) });
  }
  const gateway = await startGateway({ configFile: file, config: cfg, simUrls: sims.map((s) => s.url) });
  const token = await devToken(cfg);
  process.stdout.write(
    bannerText({
      base: gateway.url,
      file,
      workers: 1,
      simUrls: sims.map((s) => s.url),
      models: gateway.config().modelList.map((m) => m.name),
      token,
      authOff: cfg.auth === 'none',
    }),
  );

  // Log lines like every other (JSON on stdout by default): a collector parsing the log would choke on plain text.
  onStopSignals(gateway.telemetry.logger, {
    fields: () => ({ drain_ms: gateway.config().server.drain }),
    describe: () => `draining in-flight requests (up to ${gateway.config().server.drain} ms)`,
    abandon: () => gateway.abandon(),
    drain: async () => {
      await gateway.close();
      await Promise.all(sims.map((s) => s.close()));
    },
  });
  process.on('SIGHUP', () => void gateway.reload());
}

async function main(): Promise<void> {
  const tool = TOOLS[process.argv[2] ?? ''];
  if (tool) {
    process.argv.splice(2, 1); // the tool parses the rest of the command line itself
    await import(tool);
    return;
  }
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  if (values.version) {
    process.stdout.write(`infergate ${packageVersion()}\n`);
    return;
  }
  if (positionals[0] === 'healthcheck') {
    process.exitCode = await healthcheck(values.config ?? defaultConfigPath());
    return;
  }
  if (positionals[0] === 'check-config') {
    const file = positionals[1] ?? values.config ?? defaultConfigPath();
    process.exitCode = await checkConfig(file);
    return;
  }
  if (positionals.length > 0) throw new Error(`unknown command "${positionals[0]}" (infergate --help lists the commands)`);
  await serve(values.config ?? defaultConfigPath());
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
    process.stderr.write('infergate: the config has errors; fix them and start again.\n');
  } else if (err instanceof AuthConfigError) {
    process.stderr.write(`infergate: ${authKeyPath(err)}: ${err.message}\n`);
  } else {
    process.stderr.write(`infergate: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  process.exit(1);
});
