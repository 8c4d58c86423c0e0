import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startCountingBackend, type CountingBackend } from './counting-backend.js';
import { chat, startGatewayProc, tempConfig, type GatewayProc } from './proc.js';

/**
 * Exactness at small scale: three gateway processes on one Redis, 50-way concurrency each, every limit set so about
 * half the traffic must be refused. Nothing may be admitted beyond a limit (0 overrun), and nothing may be refused
 * while more than a lease slice per process is left. Backend usage is 5 + 5 tokens, below every reservation, so no
 * request can use more than it reserved (the one overrun the design allows).
 */
const MODELS = ['m-rpm', 'm-tpm', 'm-conc', 'm-quota', 'm-rpm2', 'm-quota2'];
const RPM = 60;
const TPM = 1000;
const CONC = 10;
const QUOTA = 500;
const PER_REQUEST = 10;
/** A reservation's estimate: the prompt's count plus max_tokens (8); one slice per process at exhaustion. */
const SLICE = 40;

describe('limits shared by three replicas through Redis', () => {
  let redis: TestRedis;
  let backend: CountingBackend;
  let gws: GatewayProc[] = [];

  before(async () => {
    redis = await startRedis();
    backend = await startCountingBackend(40);
    const { dir, file } = await tempConfig(() => ({
      server: { listen: '127.0.0.1:0', drain: '1s' },
      auth: 'none',
      models: MODELS.map((name) => ({ name, backends: [{ url: backend.url, kind: 'openai' }], retries: 0 })),
      routing: { health: { probe_interval: 0 }, scrape: { interval: 0 } },
      limits: [
        { match: { model: 'm-rpm' }, rpm: RPM },
        { match: { model: 'm-rpm2' }, rpm: RPM },
        { match: { model: 'm-tpm' }, tpm: TPM },
        { match: { model: 'm-conc' }, concurrency: CONC },
      ],
      quotas: [
        { match: { model: 'm-quota' }, tokens_per_day: QUOTA },
        { match: { model: 'm-quota2' }, tokens_per_day: QUOTA },
      ],
      usage: false,
      // `refuse`: across a Redis restart only what leases already hold is served, so limits stay exact throughout.
      state: { redis: redis.url, sync_interval: '50ms', replicas: 3, on_unreachable: 'refuse' },
      telemetry: { log_level: 'error', metrics: false },
    }));
    gws = await Promise.all([0, 1, 2].map(() => startGatewayProc(dir, file)));
  });
  after(async () => {
    await Promise.all(gws.map((g) => g.cleanup()));
    await backend?.close();
    await redis?.close();
  });

  /** `perProcess` requests to each replica, `concurrency` at a time per replica. */
  async function offer(model: string, perProcess: number, concurrency = 50): Promise<{ ok: number; refused: number; unavailable: number; elapsedMs: number }> {
    const start = performance.now();
    let ok = 0;
    let refused = 0;
    let unavailable = 0;
    await Promise.all(
      gws.map(async (g) => {
        let left = perProcess;
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (left > 0) {
              left--;
              const s = await chat(g.url, {}, model);
              if (s === 200) ok++;
              else if (s === 429) refused++;
              else if (s === 503) unavailable++; // only while Redis is away (refuse mode)
              else assert.fail(`unexpected status ${s}`);
            }
          }),
        );
      }),
    );
    return { ok, refused, unavailable, elapsedMs: performance.now() - start };
  }

  const refill = (cap: number, ms: number) => Math.ceil((cap * ms) / 60_000);

  test('requests per minute: 0 overrun, and no refusal while capacity is left', async () => {
    const r = await offer('m-rpm', 40);
    assert.ok(r.ok <= RPM + refill(RPM, r.elapsedMs), `admitted ${r.ok} of ${RPM} (+refill) in ${r.elapsedMs} ms`);
    assert.ok(r.ok >= RPM - 3, `admitted only ${r.ok} of ${RPM}`);
    assert.equal(backend.served('m-rpm'), r.ok);
  });

  test('tokens per minute: 0 overrun, and no refusal while capacity is left', async () => {
    const r = await offer('m-tpm', 70);
    const tokens = r.ok * PER_REQUEST;
    assert.ok(tokens <= TPM + refill(TPM, r.elapsedMs), `admitted ${tokens} tokens of ${TPM} (+refill)`);
    assert.ok(tokens >= TPM - 3 * SLICE, `admitted only ${tokens} tokens of ${TPM}`);
    assert.ok(r.refused > 0);
  });

  test('concurrency: never more in flight at the backend than the limit', async () => {
    const r = await offer('m-conc', 50);
    assert.ok(backend.peak('m-conc') <= CONC, `peak ${backend.peak('m-conc')}`);
    assert.ok(backend.peak('m-conc') >= CONC - 2, `peak only ${backend.peak('m-conc')}`);
    assert.ok(r.refused > 0 && r.ok >= CONC);
  });

  test('daily quota: 0 overrun, and no refusal while quota is left', async () => {
    const r = await offer('m-quota', 35);
    const tokens = r.ok * PER_REQUEST;
    assert.ok(tokens <= QUOTA, `admitted ${tokens} tokens of ${QUOTA}`);
    assert.ok(tokens >= QUOTA - 3 * SLICE, `admitted only ${tokens} tokens of ${QUOTA}`);
  });

  test('with Redis restarted mid-run (its state lost), the rpm limit and the quota still hold', async () => {
    const a = await offer('m-rpm2', 12, 12);
    const q1 = await offer('m-quota2', 10, 10);
    await redis.restart();
    const b = await offer('m-rpm2', 30);
    const q2 = await offer('m-quota2', 25);
    const rpmAdmitted = a.ok + b.ok;
    assert.ok(rpmAdmitted <= RPM + refill(RPM, a.elapsedMs + b.elapsedMs + 2000), `admitted ${rpmAdmitted} of ${RPM}`);
    const quotaTokens = (q1.ok + q2.ok) * PER_REQUEST;
    assert.ok(quotaTokens <= QUOTA, `admitted ${quotaTokens} quota tokens of ${QUOTA}`);
    assert.ok(a.ok > 0 && q1.ok > 0 && b.refused + q2.refused > 0);
  });
});
