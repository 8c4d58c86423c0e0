// Gateway-managed API keys from the command line, straight on the key store of a config's `keys` section:
//   infergate keys create --sub app-1 --team research --scope "models:llama-*" [--label L] [--ttl 90d]
//                         [--rpm N] [--tpm N] [--concurrency N] [--tokens-per-day N] [--tokens-per-month N]
//   infergate keys list [--all] [--json]
//   infergate keys revoke ID
//   infergate keys rotate ID [--overlap 10m]
// The store is the config's: the replicas' Redis when `state.redis` is set (keys.store: auto), else the SQLite file;
// `--redis URL` names a Redis explicitly. Running gateways on the same store see each change within
// keys.poll_interval (250 ms by default). `create` and
// `rotate` print the secret once, on stdout alone, so `KEY=$(infergate keys create …)` works.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { openKeyRegistry, parseCreateKey, parseRotateKey, type KeyRegistry, type KeyView } from '../src/auth/index.js';
import { ConfigError, formatProblem, loadConfigFile } from '../src/config/index.js';
import { isGatewayError, parseDuration, printable } from '../src/core/index.js';
import { chooseKeyStore } from '../src/server/keys-wiring.js';

const USAGE = `usage: infergate keys create --sub NAME [--team TEAM] --scope "models:* admin" [--label TEXT] [--ttl 90d]
                            [--rpm N] [--tpm N] [--concurrency N] [--tokens-per-day N] [--tokens-per-month N] [--json]
       infergate keys list [--all] [--json]
       infergate keys revoke ID
       infergate keys rotate ID [--overlap 10m]
  every command takes --config FILE (default: $INFERGATE_CONFIG, else ./config/default.yaml)
  and --redis URL (default: the config's state.redis when keys.store is auto, else the keys.sqlite file)`;

const LIMITS = ['rpm', 'tpm', 'concurrency', 'tokens-per-day', 'tokens-per-month'] as const;
/** What each limit counts, for the message that refuses a value. */
const LIMIT_UNITS: Record<(typeof LIMITS)[number], string> = {
  rpm: 'requests per minute',
  tpm: 'tokens per minute',
  concurrency: 'requests at once',
  'tokens-per-day': 'tokens per day',
  'tokens-per-month': 'tokens per month',
};
/** The admin API's ceiling for a limit (admin-input.ts). */
const MAX_LIMIT = 1e15;

/**
 * A limit option as a count. Checked here rather than left to the admin API's schema, whose messages speak of the
 * JSON body (`limits.rpm: expected number, received NaN`); and Number() alone would take `0x10` or `1e3` or `''`.
 */
function limitValue(option: (typeof LIMITS)[number], text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= 1 && n <= MAX_LIMIT)) {
    throw new Error(`--${option}: expected a whole number of ${LIMIT_UNITS[option]} from 1 to ${MAX_LIMIT}, got "${printable(text.slice(0, 40))}"`);
  }
  return n;
}

/** A duration option (`--ttl`, `--overlap`) checked with the option's name in the message. */
function durationOption(option: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (!Number.isFinite(ms) || ms < 0) throw new Error(`--${option}: expected a duration such as 30m, 24h or 90d, got "${printable(text.slice(0, 40))}"`);
  return text;
}

/**
 * parseArgs, its errors as one line: a limit given a negative number (`--rpm -3`) is refused by parseArgs as an
 * ambiguous option, in three lines that never say what the option expects.
 */
function parseCommandLine() {
  try {
    return parseArgs({
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        redis: { type: 'string' },
        sub: { type: 'string' },
        team: { type: 'string' },
        scope: { type: 'string', multiple: true },
        label: { type: 'string' },
        ttl: { type: 'string' },
        overlap: { type: 'string' },
        all: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        rpm: { type: 'string' },
        tpm: { type: 'string' },
        concurrency: { type: 'string' },
        'tokens-per-day': { type: 'string' },
        'tokens-per-month': { type: 'string' },
      },
    });
  } catch (err) {
    const message = (err as Error).message;
    const option = /^Option '--([\w-]+)' argument is ambiguous/.exec(message)?.[1];
    const limit = LIMITS.find((l) => l === option);
    if (limit) throw new Error(`--${limit}: expected a whole number of ${LIMIT_UNITS[limit]} from 1 to ${MAX_LIMIT}`);
    throw new Error(message.split('\n')[0]!);
  }
}

function configPath(given: string | undefined): string {
  return given ?? process.env.INFERGATE_CONFIG ?? resolve('config/default.yaml');
}

async function open(file: string, redisUrl: string | undefined): Promise<KeyRegistry> {
  if (!existsSync(file)) throw new Error(`config ${file} not found (use --config FILE)`);
  const cfg = await loadConfigFile(file);
  if (cfg.keys === false) throw new Error(`${file} has no keys section: gateway-managed keys are off`);
  const baseDir = process.cwd();
  const store = await chooseKeyStore(cfg, { baseDir, ...(redisUrl ? { redisUrl } : {}) });
  if (store) {
    // A one-shot command must not act on a Redis it cannot read (it would list nothing or fail half-way).
    if (!(await Promise.resolve()
      .then(() => store.store.changesSince(-1))
      .then(() => true, () => false))) {
      store.store.close();
      throw new Error(`the key store is unreachable: ${store.where}`);
    }
  }
  return openKeyRegistry(cfg.keys, { baseDir, ...(store ? { store } : {}) });
}

function table(keys: readonly KeyView[]): string {
  // Subjects, teams and labels are admin input: control characters are shown escaped, never obeyed by the terminal.
  const rows = keys.map((k) => [k.id, k.status, printable(k.subject), printable(k.team ?? ''), printable(k.scopes.join(' ')), limitsText(k), printable(k.label), k.last_used_at?.slice(0, 19) ?? '-']);
  const head = ['id', 'status', 'subject', 'team', 'scopes', 'limits', 'label', 'last used'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

function limitsText(k: KeyView): string {
  return Object.entries(k.limits)
    .map(([name, v]) => `${name}=${v}`)
    .join(',');
}

async function main(): Promise<number> {
  const { values, positionals } = parseCommandLine();
  const [command, id] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return command || values.help ? 0 : 2;
  }
  // Input is checked before the store is opened: a typo needs no reachable store to be reported.
  const limits = Object.fromEntries(LIMITS.filter((l) => values[l] !== undefined).map((l) => [l.replaceAll('-', '_'), limitValue(l, values[l]!)]));
  const ttl = durationOption('ttl', values.ttl);
  const overlap = durationOption('overlap', values.overlap);
  const keys = await open(configPath(values.config), values.redis);
  try {
    switch (command) {
      case 'create': {
        const input = parseCreateKey(
          { subject: values.sub, team: values.team, scopes: (values.scope ?? []).join(' '), label: values.label, ttl, limits },
          Date.now(),
        );
        const { key, secret } = await keys.create(input);
        if (values.json) process.stdout.write(`${JSON.stringify({ ...key, key: secret }, null, 2)}\n`);
        else {
          process.stdout.write(`${secret}\n`);
          process.stderr.write(`key ${key.id} for ${key.subject}${key.team ? ` (team ${key.team})` : ''}: shown once, store it now\n`);
        }
        return 0;
      }
      case 'list': {
        const all = keys.list().filter((k) => values.all || k.status !== 'revoked');
        process.stdout.write(values.json ? `${JSON.stringify(all, null, 2)}\n` : `${table(all)}\n`);
        return 0;
      }
      case 'revoke': {
        if (!id) throw new Error('revoke needs a key id');
        const key = await keys.revoke(id);
        process.stderr.write(`key ${key.id} revoked at ${key.revoked_at}\n`);
        return 0;
      }
      case 'rotate': {
        if (!id) throw new Error('rotate needs a key id');
        const { key, secret } = await keys.rotate(id, parseRotateKey({ overlap }));
        process.stdout.write(`${secret}\n`);
        process.stderr.write(
          `key ${key.id} rotated; ${key.rotation_overlap_until ? `the old secret works until ${key.rotation_overlap_until}` : 'the old secret stopped working'}\n`,
        );
        return 0;
      }
      default:
        process.stderr.write(`unknown keys command "${command}"\n${USAGE}\n`);
        return 2;
    }
  } finally {
    await keys.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError) for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
    else process.stderr.write(`infergate keys: ${isGatewayError(err) ? err.message : (err as Error).message}\n`);
    process.exitCode = isGatewayError(err) && err.status === 404 ? 1 : 2;
  },
);
