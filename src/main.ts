import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readFile } from 'node:fs/promises';
import { DEV_ISSUER, mintDevToken } from './auth/index.js';
import { ConfigError, formatProblem, loadConfigFile, type Config } from './config/index.js';
import cluster from 'node:cluster';
import { runSupervisor, runWorker, resolveWorkers, startGateway } from './server/index.js';
import { startSimFleet, type SimServer } from './sim/index.js';

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function defaultConfigPath(): string {
  const fromEnv = process.env.INFERGATE_CONFIG;
  if (fromEnv) return fromEnv;
  const local = resolve('config/default.yaml');
  return existsSync(local) ? local : resolve(PACKAGE_ROOT, 'config/default.yaml');
}

async function checkConfig(file: string): Promise<number> {
  try {
    const cfg = await loadConfigFile(file);
    process.stdout.write(`${file}: OK (${cfg.models.length} model(s)${cfg.sim ? `, sim with ${cfg.sim.replicas} replica(s)` : ''})\n`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
      process.stderr.write(`${err.problems.length} problem(s) found.\n`);
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
  const secret = (await readFile(resolve(dev.secret_file), 'utf8')).trim();
  const audience = Array.isArray(dev.audience) ? dev.audience[0] : dev.audience;
  return mintDevToken({ secret, sub: 'dev', scope: 'models:* admin', ttl: '24h', audience });
}

async function serve(file: string): Promise<void> {
  if (cluster.isWorker) return runWorker(file);
  const cfg = await loadConfigFile(file);
  let sims: SimServer[] = [];
  if (cfg.sim) {
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
  const base = `http://localhost:${gateway.port}`;
  const firstModel = gateway.config().modelList[0]?.name ?? 'MODEL';
  const token = await devToken(cfg);
  const authHeader = token ? ` -H "Authorization: Bearer $INFERGATE_TOKEN"` : '';
  process.stdout.write(
    [
      `infergate listening on ${base}/v1 (config ${file})`,
      sims.length ? `  ${sims.length} simulated backend(s): ${sims.map((s) => s.url).join(', ')}` : '',
      `  models: ${gateway.config().modelList.map((m) => m.name).join(', ')}`,
      token ? `  development token (sub=dev, scopes "models:* admin", valid 24h):\n    export INFERGATE_TOKEN=${token}` : '',
      `  try: curl ${base}/v1/chat/completions${authHeader} -H 'content-type: application/json' -d '{"model":"${firstModel}","messages":[{"role":"user","content":"Hello"}]}'`,
      '',
    ]
      .filter((l) => l !== '')
      .join('\n') + '\n',
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(`${signal}: draining in-flight requests (up to ${gateway.config().server.drain} ms)\n`);
    await gateway.close();
    await Promise.all(sims.map((s) => s.close()));
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => void gateway.reload());
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write('usage: infergate [--config FILE]\n       infergate check-config FILE\n');
    return;
  }
  if (positionals[0] === 'check-config') {
    const file = positionals[1] ?? values.config ?? defaultConfigPath();
    process.exitCode = await checkConfig(file);
    return;
  }
  if (positionals.length > 0) throw new Error(`unknown command "${positionals[0]}"`);
  await serve(values.config ?? defaultConfigPath());
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
    process.stderr.write('infergate: the config has errors; fix them and start again.\n');
  } else {
    process.stderr.write(`infergate: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  process.exit(1);
});
