import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import OpenAI from 'openai';
import type { Gateway } from '../../src/server/index.js';
import { client, eventually } from '../helpers/harness.js';
import { adminCall, createKey, keysWorld, type KeysWorld } from '../keys/helpers.js';
import { launchChromium, SHOTS } from './browser.js';

const PEPPER = 'console-test-pepper-0123456789abcdefghijklmnop';

describe('the web console in headless Chromium', () => {
  let w: KeysWorld;
  let gw: Gateway;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let appKey: string;
  const foreign: string[] = [];
  const failed: string[] = [];
  let traffic = true;
  let trafficDone: Promise<void> = Promise.resolve();

  const text = async (testId: string) => (await page.getByTestId(testId).first().textContent())?.trim() ?? '';
  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const go = async (name: string) => {
    await page.getByTestId(`nav-${name}`).click();
    await page.getByTestId(`page-${name}`).waitFor();
  };

  before(async () => {
    w = await keysWorld('infergate-console-');
    gw = await w.start({ keys: { sqlite: join(w.dir, 'keys.db'), pepper: PEPPER } });
    appKey = (await createKey(gw, w.admin, { subject: 'load-app', team: 'web', scopes: 'models:*', label: 'traffic' })).key;
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true });
    page = await context.newPage();
    // The console must work on an offline network: everything it loads comes from the gateway itself.
    page.on('request', (r) => {
      if (!r.url().startsWith(gw.url) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) foreign.push(r.url());
    });
    page.on('dialog', (d) => void d.accept());
    // Nothing the page loads fails: a 404 (the favicon a browser asks for by itself) is an error in its console.
    page.on('response', (r) => {
      if (r.status() >= 400 && !r.url().includes('/console/api/')) failed.push(`${r.status()} ${r.url()}`);
    });
  });
  after(async () => {
    traffic = false;
    await trafficDone;
    await browser?.close();
    await w.close();
  });

  test('the API behind the console needs an admin credential', async () => {
    assert.equal((await fetch(`${gw.url}/console/api/live`)).status, 401);
    assert.equal((await fetch(`${gw.url}/console/api/live`, { headers: { authorization: `Bearer ${appKey}` } })).status, 403);
    assert.equal((await fetch(`${gw.url}/console/api/live`, { headers: { authorization: `Bearer ${w.admin}` } })).status, 200);
    // The page itself holds no data and is served to anyone, with a policy that forbids loading from elsewhere.
    const res = await fetch(`${gw.url}/console`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    // It names its icon inline: a browser would otherwise ask for /favicon.ico and log the 404 on every load.
    assert.match(await res.text(), /<link rel="icon" href="data:,">/);
  });

  test('refuses a bad credential at the login form, then logs in with an admin token', async () => {
    await page.goto(`${gw.url}/console/?refresh=1000`);
    await page.getByTestId('login').waitFor();
    await shot('login');
    await page.fill('input[name=token]', appKey);
    await page.click('button[type=submit]');
    await page.getByText('admin').first().waitFor();
    assert.ok(await page.getByTestId('login').isVisible(), 'a non-admin key stays on the login form');
    assert.match((await page.getByTestId('login').getByRole('alert').textContent()) ?? '', /admin/, 'the refusal is announced');
    await page.fill('input[name=token]', w.admin);
    await page.click('button[type=submit]');
    await page.getByTestId('page-live').waitFor();
    assert.deepEqual(failed, []);
  });

  test('Live: the numbers move while traffic runs', async () => {
    const before = await text('live-rps');
    const sdk = client(gw, { apiKey: appKey });
    trafficDone = (async () => {
      while (traffic) {
        await Promise.all(
          Array.from({ length: 4 }, (_, i) =>
            sdk.chat.completions
              .create({ model: i === 3 ? 'other' : 'llama', messages: [{ role: 'user', content: `hello ${i}` }], stream: i % 2 === 0, max_tokens: 16 })
              .then(async (r) => {
                if (Symbol.asyncIterator in r) for await (const _ of r as AsyncIterable<unknown>);
              })
              .catch(() => undefined),
          ),
        );
      }
    })();
    const first = await eventually(async () => {
      const v = await text('live-rps');
      return v !== before && Number(v) > 0 ? v : null;
    }, 15_000, 200);
    // …and keep moving: the tokens/s card and the per-model table fill in.
    await eventually(async () => Number.parseFloat(await text('live-tok-out')) > 0, 15_000, 200);
    await eventually(async () => (await text('live-models')).includes('llama') && (await text('live-models')).includes('other'), 15_000, 200);
    await eventually(async () => (await text('live-rps')) !== first, 15_000, 200);
    assert.notEqual(await text('live-ttft'), '– / –');
    await page.waitForTimeout(1200); // one more poll, so the charts show a few points
    await shot('live');
  });

  test('Fleet: every backend with its health and engine numbers', async () => {
    await go('fleet');
    await eventually(async () => (await text('fleet-healthy')) === '1 / 1', 10_000, 200);
    const table = await text('fleet-table');
    assert.match(table, /llama/);
    assert.match(table, /healthy/);
    await shot('fleet');
  });

  test('Keys: create a key, use it from the SDK, revoke it and see it refused', async () => {
    await go('keys');
    await page.getByTestId('keys-table').waitFor();
    const form = page.getByTestId('create-key');
    if (!(await form.isVisible())) await page.click('summary');
    await form.locator('input[name=subject]').fill('console-made');
    await form.locator('input[name=team]').fill('ops');
    await form.locator('input[name=scopes]').fill('models:llama');
    await form.locator('input[name=label]').fill('made in the console');
    await form.locator('input[name=rpm]').fill('100');
    await form.locator('button[type=submit]').click();
    const secret = (await page.getByTestId('new-key-secret').textContent())!.trim();
    assert.match(secret, /^sk-ig-/);
    await shot('keys-created');
    const res = await client(gw, { apiKey: secret }).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(res.object, 'chat.completion');
    const id = secret.slice(6, 16);
    const row = page.locator(`tr[data-key-id="${id}"]`);
    assert.match((await row.textContent()) ?? '', /100 req\/min/);
    // Edit its limits in place: the admin API has the new ones, and the gateway enforces them at once.
    await row.getByText('Edit limits').click();
    await row.locator('input[name=rpm]').fill('1');
    await row.locator('input[name=tokens_per_day]').fill('5000');
    await row.getByText('Save').click();
    await row.getByText('1 req/min, 5,000 tokens/day').waitFor();
    assert.deepEqual((await adminCall(gw, w.admin, 'GET', `/admin/keys/${id}`)).body.limits, { rpm: 1, tokens_per_day: 5000 });
    await assert.rejects(
      client(gw, { apiKey: secret }).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] }),
      (err: unknown) => err instanceof OpenAI.APIError && err.status === 429,
    );
    await row.getByTestId('revoke').click();
    await row.getByTestId('key-status').filter({ hasText: 'revoked' }).waitFor();
    await assert.rejects(
      client(gw, { apiKey: secret }).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] }),
      (err: unknown) => err instanceof OpenAI.APIError && err.status === 401 && /revoked/.test(err.message),
    );
    await shot('keys-revoked');
  });

  test('Keys: a refused or failed limits save keeps the form open with what was typed, the error shown; a good one closes it', async () => {
    const { id } = await createKey(gw, w.admin, { subject: 'edit-me', scopes: 'models:*', limits: { rpm: 50 } });
    await go('fleet');
    await go('keys');
    const row = page.locator(`tr[data-key-id="${id}"]`);
    await row.getByText('Edit limits').click();
    const form = row.getByTestId('edit-limits');
    // Past the API's ceiling (1e15): the browser's own checks let it through, the admin API answers 400.
    await form.locator('input[name=rpm]').fill('2000000000000000');
    await form.locator('input[name=tpm]').fill('777');
    await form.getByText('Save').click();
    const alert = form.getByRole('alert');
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? '', /limits\.rpm/, 'the API\'s own message');
    assert.ok(await form.isVisible(), 'the form stays open');
    assert.equal(await form.locator('input[name=rpm]').inputValue(), '2000000000000000');
    assert.equal(await form.locator('input[name=tpm]').inputValue(), '777');
    assert.ok(await form.getByText('Save').isEnabled());
    assert.deepEqual((await adminCall(gw, w.admin, 'GET', `/admin/keys/${id}`)).body.limits, { rpm: 50 });
    await shot('keys-edit-refused');
    // The network fails: same, with the browser's message.
    await form.locator('input[name=rpm]').fill('60');
    await page.route(`**/admin/keys/${id}`, (route) => (route.request().method() === 'PATCH' ? route.abort('connectionfailed') : route.continue()));
    try {
      await form.getByText('Save').click();
      await eventually(async () => !/limits\.rpm/.test((await alert.textContent()) ?? ''), 10_000, 100);
      assert.ok(await alert.isVisible());
      assert.equal(await form.locator('input[name=rpm]').inputValue(), '60');
      assert.equal(await form.locator('input[name=tpm]').inputValue(), '777');
      assert.ok(await form.getByText('Save').isEnabled());
    } finally {
      await page.unroute(`**/admin/keys/${id}`);
    }
    // Fixed and saved: the form closes and the row shows what the gateway now holds.
    await form.getByText('Save').click();
    await row.getByText('60 req/min, 777 tokens/min').waitFor();
    assert.equal(await row.getByTestId('edit-limits').count(), 0);
    assert.deepEqual((await adminCall(gw, w.admin, 'GET', `/admin/keys/${id}`)).body.limits, { rpm: 60, tpm: 777 });
  });

  test('Keys: limits are shown exactly as set, never rounded', async () => {
    const { id } = await createKey(gw, w.admin, { subject: 'exact', scopes: 'models:*', limits: { tpm: 12_500, tokens_per_month: 1_500_000 } });
    await go('fleet');
    await go('keys');
    const row = page.locator(`tr[data-key-id="${id}"]`);
    await row.getByText('12,500 tokens/min, 1,500,000 tokens/month').waitFor();
  });

  test('Keys: revoking a key whose limits form is open closes the form with its buttons', async () => {
    const { id } = await createKey(gw, w.admin, { subject: 'edit-then-revoke', scopes: 'models:*' });
    await go('fleet');
    await go('keys');
    const row = page.locator(`tr[data-key-id="${id}"]`);
    await row.getByText('Edit limits').click();
    await row.getByTestId('edit-limits').waitFor();
    await row.getByTestId('revoke').click();
    await row.getByTestId('key-status').filter({ hasText: 'revoked' }).waitFor();
    assert.equal(await row.getByTestId('edit-limits').count(), 0, 'no Save left for a revoked key');
    assert.equal((await row.locator('td').nth(3).textContent())?.trim(), 'none');
  });

  test('Keys: Copy says whether the new secret reached the clipboard', async () => {
    await go('keys');
    const form = page.getByTestId('create-key');
    if (!(await form.isVisible())) await page.click('summary');
    await form.locator('input[name=subject]').fill('copy-me');
    await form.locator('button[type=submit]').click();
    const box = page.getByTestId('new-key');
    await box.waitFor();
    // As on a plain-HTTP origin other than localhost, where browsers offer no clipboard API.
    await page.evaluate("Object.defineProperty(navigator, 'clipboard', { value: undefined, configurable: true })");
    await box.getByText('Copy', { exact: true }).click();
    await box.getByTestId('copy-status').filter({ hasText: 'Could not copy' }).waitFor();
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gw.url });
    await page.evaluate('delete navigator.clipboard');
    await box.getByText('Copy', { exact: true }).click();
    await box.getByTestId('copy-status').filter({ hasText: 'Copied' }).waitFor();
    assert.equal(await page.evaluate('navigator.clipboard.readText()'), (await page.getByTestId('new-key-secret').textContent())!.trim());
    await box.getByText('Done').click();
  });

  test('Keys: a refused create keeps the form and what was typed, with the API\'s error next to it', async () => {
    await go('keys');
    const form = page.getByTestId('create-key');
    if (!(await form.isVisible())) await page.click('summary');
    await form.locator('input[name=subject]').fill('typo-scope');
    await form.locator('input[name=scopes]').fill('models:llama:embedding');
    await form.locator('input[name=label]').fill('kept');
    await form.locator('button[type=submit]').click();
    const alert = form.getByRole('alert');
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? '', /embeddings/, 'the API\'s own message');
    assert.ok(await form.isVisible());
    assert.equal(await form.locator('input[name=subject]').inputValue(), 'typo-scope');
    assert.equal(await form.locator('input[name=scopes]').inputValue(), 'models:llama:embedding');
    assert.equal(await form.locator('input[name=label]').inputValue(), 'kept');
    assert.ok(await form.locator('button[type=submit]').isEnabled());
    assert.equal(await page.getByTestId('new-key').count(), 0);
    // Corrected, it goes through and the error is gone.
    await form.locator('input[name=scopes]').fill('models:llama:embeddings');
    await form.locator('button[type=submit]').click();
    await page.getByTestId('new-key-secret').waitFor();
    assert.equal(await form.getByRole('alert').count(), 0);
    await page.getByTestId('new-key').getByText('Done').click();
  });

  test('Keys: a failed revoke says so next to the key, which stays active, and can be tried again', async () => {
    const { id } = await createKey(gw, w.admin, { subject: 'revoke-me', scopes: 'models:*' });
    await go('fleet');
    await go('keys');
    const row = page.locator(`tr[data-key-id="${id}"]`);
    await page.route(`**/admin/keys/${id}`, (route) => (route.request().method() === 'DELETE' ? route.abort('connectionfailed') : route.continue()));
    try {
      await row.getByTestId('revoke').click();
      await row.getByRole('alert').waitFor();
      assert.equal((await row.getByTestId('key-status').textContent())?.trim(), 'active');
      assert.ok(await row.getByTestId('revoke').isEnabled());
    } finally {
      await page.unroute(`**/admin/keys/${id}`);
    }
    await row.getByTestId('revoke').click();
    await row.getByTestId('key-status').filter({ hasText: 'revoked' }).waitFor();
    assert.equal((await adminCall(gw, w.admin, 'GET', `/admin/keys/${id}`)).body.status, 'revoked');
  });

  test('Keys: a create form opened while the list loads stays open, with what was typed, when the list arrives', async () => {
    await go('fleet');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.route('**/admin/keys', async (route) => {
      await held;
      await route.continue();
    });
    try {
      await go('keys');
      const form = page.getByTestId('create-key');
      if (!(await form.isVisible())) await page.click('summary');
      await form.locator('input[name=subject]').fill('half-typed');
      release();
      await page.locator('tr[data-key-id]').first().waitFor();
      assert.ok(await form.isVisible(), 'the form stays open');
      assert.equal(await form.locator('input[name=subject]').inputValue(), 'half-typed');
    } finally {
      release();
      await page.unroute('**/admin/keys');
    }
  });

  test('Usage: the same totals as /admin/usage, with a CSV download', async () => {
    await go('usage');
    await eventually(async () => /load-app|web/.test(await text('usage-table')), 10_000, 200).catch(async (e) => {
      await shot('usage-failed');
      throw e;
    });
    const api = await adminCall(gw, w.admin, 'GET', '/admin/usage?from=24h&group_by=team,model');
    const shown = await text('usage-table');
    for (const row of api.body.data as { team: string | null; model: string }[]) if (row.team) assert.ok(shown.includes(row.team));
    // By key: the traffic key's public id appears as a row of its own.
    await page.getByLabel('key').check();
    await eventually(async () => (await text('usage-table')).includes(appKey.slice(6, 16)), 10_000, 200);
    await page.getByLabel('key').uncheck();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('usage-csv').click()]);
    const csv = await readFile((await download.path())!, 'utf8');
    assert.match(csv.split('\n')[0]!, /team,model/);
    await shot('usage');
  });

  test('Usage: another grouping shows no rows of the last one while it loads; a failed CSV download says so', async () => {
    await go('usage');
    const body = page.getByTestId('usage-table').locator('tbody tr');
    await eventually(async () => (await body.count()) > 0 && !/No requests/.test(await text('usage-table')), 10_000, 200);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const byModel = (url: URL) => url.pathname === '/admin/usage' && url.searchParams.get('group_by') === 'model';
    await page.route(byModel, async (route) => {
      await held;
      await route.continue();
    });
    try {
      await page.getByLabel('team').uncheck();
      await page.waitForTimeout(300);
      // The rows by team and model must not stand under a "model" heading alone (one model over several rows).
      assert.equal(await body.count(), 0, 'no rows of the previous grouping');
      release();
      await eventually(async () => (await body.count()) > 0, 10_000, 100);
    } finally {
      release();
      await page.unroute(byModel);
    }
    const api = await adminCall(gw, w.admin, 'GET', '/admin/usage?from=24h&group_by=model');
    await eventually(async () => (await body.count()) === api.body.data.length, 10_000, 200);
    await page.getByLabel('team').check();
    // The CSV request fails on the network: the admin is told, next to the button, which works again.
    const csv = (url: URL) => url.pathname === '/admin/usage';
    await page.route(csv, (route) => (route.request().headers().accept === 'text/csv' ? route.abort('connectionfailed') : route.continue()));
    try {
      await page.getByTestId('usage-csv').click();
      await page.getByTestId('usage-csv-error').waitFor();
      assert.equal(await page.getByTestId('usage-csv-error').getAttribute('role'), 'alert');
      assert.ok(await page.getByTestId('usage-csv').isEnabled());
    } finally {
      await page.unroute(csv);
    }
  });

  test('Config: the active config with secrets masked, its source and load time', async () => {
    await go('config');
    await page.getByTestId('config-json').waitFor();
    const json = await text('config-json');
    assert.match(json, /"pepper": "••••••"/);
    assert.ok(!json.includes(PEPPER), 'a secret never reaches the browser');
    assert.equal(await text('config-source'), '(inline)');
    await shot('config');
  });

  test('works on a phone-sized screen and loads nothing from elsewhere', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    await p.goto(`${gw.url}/console/?refresh=1000`);
    await p.fill('input[name=token]', w.admin);
    await p.click('button[type=submit]');
    await p.getByTestId('page-live').waitFor();
    await p.getByTestId('live-rps').waitFor();
    // Nothing wider than the screen except inside the scrolling tables.
    const overflow = Number(await p.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
    assert.ok(overflow <= 1, `page is ${overflow}px wider than the phone`);
    await p.screenshot({ path: join(SHOTS, 'live-phone.png'), fullPage: true });
    await phone.close();
    assert.deepEqual(foreign, []);
  });
});
