import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { startSims, startTestGateway } from '../helpers/harness.js';

// /console/api/config masks a password in a backend URL; /console/api/fleet showed the same URL as written.
let sims: SimServer[];
let gw: Gateway;

before(async () => {
  sims = await startSims(1);
  const withPassword = sims[0]!.url.replace('http://', 'http://svc:hunter2@');
  gw = await startTestGateway([{ name: 'llama', backends: [{ url: withPassword, model: 'sim-llama-8b' }] }], { sections: { auth: 'none' } });
});
after(async () => {
  await gw.close(100);
  await Promise.all(sims.map((s) => s.close()));
});

test('the console fleet view never shows the password of a backend URL', async () => {
  const config = await (await fetch(`${gw.url}/console/api/config`)).text();
  assert.ok(!config.includes('hunter2'), config);
  const res = await fetch(`${gw.url}/console/api/fleet`);
  assert.equal(res.status, 200);
  const fleet = (await res.json()) as { backends: { url: string }[] };
  assert.equal(fleet.backends.length, 1);
  assert.ok(!fleet.backends[0]!.url.includes('hunter2'), fleet.backends[0]!.url);
  assert.match(fleet.backends[0]!.url, /^http:\/\/svc:[^@]+@127\.0\.0\.1:\d+$/);
});
