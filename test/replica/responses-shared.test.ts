import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startIdp, type TestIdp } from '../helpers/idp.js';
import { client, closeAll, startSims, startTestGateway } from '../helpers/harness.js';

/**
 * Stored Responses across replicas: a response created through replica A lives on one backend, and replica B must
 * send its retrieval and its continuation there (each replica used to remember only the responses it created itself).
 */
describe('stored Responses ids are shared by the replicas on one Redis', () => {
  let redis: TestRedis;
  let idp: TestIdp;
  let sims: SimServer[];
  let a: Gateway;
  let b: Gateway;

  before(async () => {
    redis = await startRedis();
    idp = await startIdp();
    sims = await startSims(3, { storeResponses: true });
    const models = [{ name: 'native', policy: 'round_robin', backends: sims.map((s) => ({ url: s.url, model: 'sim-llama-8b' })) }];
    const sections = {
      auth: { issuers: [{ issuer: idp.issuer, audience: 'infergate', jwks_url: idp.jwksUrl, algorithms: ['RS256'] }] },
      state: { redis: redis.url, prefix: `resp-${process.pid}:` },
      routing: { health: { probe_interval: 0 }, scrape: { interval: 0 } },
      usage: false,
    };
    a = await startTestGateway(models, { sections });
    b = await startTestGateway(models, { sections });
  });
  after(async () => {
    await closeAll(a, b);
    await Promise.all(sims.map((s) => s.close()));
    await idp.close();
    await redis?.close();
  });

  test('a response stored through A is retrieved and continued through B at once, on the backend that holds it', async () => {
    const apiKey = await idp.issueToken({ sub: 'alice', scope: 'models:*' });
    const viaA = client(a, { apiKey });
    const viaB = client(b, { apiKey });
    for (let i = 0; i < 3; i++) {
      const res = await viaA.responses.create({ model: 'native', input: `Remember number ${i}`, store: true });
      const holder = sims.find((s) => s.log.entries.some((e) => e.path === '/v1/responses' && e.rawBody.includes(`number ${i}`)));
      assert.ok(holder, 'a simulator stored the response');
      // No wait between creation and retrieval: B must not answer 404 while A's update is on its way.
      const again = await viaB.responses.retrieve(res.id);
      assert.equal(again.id, res.id);
      const next = await viaB.responses.create({ model: 'native', input: 'And now?', previous_response_id: res.id });
      assert.equal(next.previous_response_id, res.id);
      const retrievedOn = sims.filter((s) => s.log.entries.some((e) => e.path === `/v1/responses/${res.id}`));
      assert.deepEqual(retrievedOn, [holder], 'the retrieval went to the backend that stored the response');
    }
  });

  test('through B, another subject and an unknown id still get 404', async () => {
    const res = await client(a, { apiKey: await idp.issueToken({ sub: 'alice', scope: 'models:*' }) }).responses.create({ model: 'native', input: 'private', store: true });
    const mallory = client(b, { apiKey: await idp.issueToken({ sub: 'mallory', scope: 'models:*' }) });
    await assert.rejects(mallory.responses.retrieve(res.id), OpenAI.NotFoundError);
    await assert.rejects(mallory.responses.retrieve('resp_never_created'), OpenAI.NotFoundError);
  });
});
