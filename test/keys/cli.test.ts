import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { Gateway } from '../../src/server/index.js';
import { client, eventually } from '../helpers/harness.js';
import { keysWorld, type KeysWorld } from './helpers.js';

const BIN = fileURLToPath(new URL('../../bin/infergate.mjs', import.meta.url));
const run = promisify(execFile);

describe('infergate keys (CLI) beside a running gateway', () => {
  let w: KeysWorld;
  let gw: Gateway;
  let configFile: string;
  const cli = (...args: string[]) => run(process.execPath, [BIN, 'keys', ...args, '--config', configFile], { cwd: w.dir });

  before(async () => {
    w = await keysWorld('infergate-keys-cli-');
    gw = await w.start();
    // The CLI reads the same keys section (absolute paths) from a config file of its own.
    configFile = join(w.dir, 'cli.yaml');
    await writeFile(configFile, JSON.stringify({ auth: 'none', sim: {}, keys: { sqlite: join(w.dir, 'keys.db'), pepper_file: join(w.dir, 'pepper') } }));
  });
  after(() => w.close());

  test('a key created on the command line works from the SDK at once; revoked there, it is refused within a second', async () => {
    const created = await cli('create', '--sub', 'cli-app', '--team', 'batch', '--scope', 'models:llama', '--label', 'nightly', '--rpm', '50');
    const key = created.stdout.trim();
    assert.match(key, /^sk-ig-[a-z2-9]{10}-/);
    assert.match(created.stderr, /shown once/);
    const sdk = client(gw, { apiKey: key });
    const res = await eventually(() => sdk.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] }), 1000);
    assert.equal(res.object, 'chat.completion');
    assert.equal(w.ended.at(-1)!.principal.subject, 'cli-app');

    const listed = JSON.parse((await cli('list', '--json')).stdout) as { id: string; limits: unknown; label: string }[];
    const mine = listed.find((k) => k.id === key.slice(6, 16))!;
    assert.deepEqual(mine.limits, { rpm: 50 });
    assert.equal(mine.label, 'nightly');
    assert.ok(!JSON.stringify(listed).includes(key.slice(17)), 'list never prints a secret');
    // Names are admin input: the table shows control characters escaped, never an ESC sequence the terminal obeys.
    await cli('create', '--sub', 'ctl\u001b[31mred', '--scope', 'models:llama', '--label', 'two\nlines');
    const table = (await cli('list')).stdout;
    assert.ok(!table.includes('\u001b') && !table.includes('two\nlines'), JSON.stringify(table));
    assert.ok(table.includes('ctl\\u001b[31mred') && table.includes('two\\u000alines'), table);

    const rotated = (await cli('rotate', mine.id, '--overlap', '5m')).stdout.trim();
    await eventually(() => client(gw, { apiKey: rotated }).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] }), 1000);

    await cli('revoke', mine.id);
    const err = await eventually(async () => {
      try {
        await sdk.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] });
        return null;
      } catch (e) {
        return e as InstanceType<typeof OpenAI.APIError>;
      }
    }, 1000, 10);
    assert.ok(err);
    assert.equal(err.status, 401);
    assert.match(err.message, /revoked/);
  });

  test('refuses bad input with the admin API\'s message and a non-zero exit', async () => {
    await assert.rejects(cli('create', '--sub', 'x', '--scope', 'modles:*'), (e: { code: number; stderr: string }) => e.code === 2 && /scope/.test(e.stderr));
    await assert.rejects(cli('revoke', 'nosuchkey0'), (e: { code: number; stderr: string }) => e.code === 1 && /No API key/.test(e.stderr));
  });

  test('refuses a bad number or duration with one line naming the option and what it expects, never zod\'s text', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--rpm', 'abc'], /^infergate keys: --rpm: expected a whole number of requests per minute from 1 to \d+, got "abc"\n$/],
      [['--tpm', '1.5'], /^infergate keys: --tpm: expected a whole number of tokens per minute/],
      [['--concurrency', '0'], /^infergate keys: --concurrency: expected a whole number/],
      [['--tokens-per-day', '0x10'], /^infergate keys: --tokens-per-day: expected a whole number/],
      [['--tokens-per-month', '1e20'], /^infergate keys: --tokens-per-month: expected a whole number/],
      [['--rpm', ''], /^infergate keys: --rpm: expected a whole number/],
      [['--rpm', '-3'], /^infergate keys: --rpm: expected a whole number of requests per minute from 1 to \d+\n$/],
      [['--ttl', 'soon'], /^infergate keys: --ttl: expected a duration such as 30m, 24h or 90d, got "soon"\n$/],
    ];
    for (const [args, message] of cases) {
      const e = (await cli('create', '--sub', 'x', '--scope', 'models:*', ...args).then(() => null, (err: unknown) => err)) as { code: number; stderr: string } | null;
      assert.ok(e, `${args.join(' ')} was accepted`);
      assert.equal(e.code, 2, args.join(' '));
      assert.match(e.stderr, message, args.join(' '));
      assert.doesNotMatch(e.stderr, /Invalid input|received|Too small|limits\./, args.join(' '));
    }
    const rotate = (await cli('rotate', 'nosuchkey0', '--overlap', 'later').then(() => null, (err: unknown) => err)) as { code: number; stderr: string } | null;
    assert.equal(rotate?.code, 2);
    assert.equal(rotate?.stderr, 'infergate keys: --overlap: expected a duration such as 30m, 24h or 90d, got "later"\n');
  });
});
