// Mints a development token signed with the quick start's HS256 secret.
//   npm run token -- --sub alice --team research --scope "models:* admin" --ttl 1h
// Prints only the token on stdout, so `TOKEN=$(npm run -s token -- --sub alice)` works.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { DEV_AUDIENCE, DEV_ISSUER, mintDevToken } from '../src/auth/index.js';

const USAGE = `usage: npm run token -- --sub <subject> [--team <team>] [--scope "models:* admin"] [--ttl 1h]
                       [--secret-file ./data/dev-secret] [--issuer ${DEV_ISSUER}] [--audience ${DEV_AUDIENCE}]`;

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        sub: { type: 'string' },
        team: { type: 'string' },
        scope: { type: 'string', default: 'models:*' },
        ttl: { type: 'string', default: '1h' },
        'secret-file': { type: 'string', default: './data/dev-secret' },
        issuer: { type: 'string', default: DEV_ISSUER },
        audience: { type: 'string', default: DEV_AUDIENCE },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help || !values.sub) {
    process.stderr.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const file = values['secret-file'];
  let secret: string;
  try {
    secret = (await readFile(file, 'utf8')).trim();
  } catch {
    // Not created here on purpose: a token signed with a secret the gateway does not use would only fail later.
    process.stderr.write(`no development secret at ${file}: start the gateway once (npm start creates it) or pass --secret-file\n`);
    return 1;
  }
  try {
    const token = await mintDevToken({ secret, sub: values.sub, team: values.team ?? null, scope: values.scope, ttl: values.ttl, issuer: values.issuer, audience: values.audience });
    process.stdout.write(`${token}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
}

process.exitCode = await main();
