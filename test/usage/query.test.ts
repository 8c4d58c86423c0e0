import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GatewayError } from '../../src/core/index.js';
import { createUsageWriter, parseGroupBy, PERCENTILE_RELATIVE_ERROR, queryUsage, toCsv, type UsageWriter } from '../../src/usage/index.js';
import { row, T0 } from './fixtures.js';

const DAY = 86_400_000;

describe('usage queries', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'infergate-query-'));
  let w: UsageWriter;
  before(() => {
    w = createUsageWriter({ path: join(dir, 'usage.db'), flushIntervalMs: 60_000 });
    // alice: 100 requests on day 0, latencies 1..100 ms, every 10th an error
    for (let i = 1; i <= 100; i++) {
      w.record(row({ id: `a${i}`, latencyMs: i, ttftMs: i / 2, status: i % 10 === 0 ? 502 : 200, errorCode: i % 10 === 0 ? 'upstream_error' : null }));
    }
    // bob (team ops) on day 1, on another backend and model
    for (let i = 1; i <= 4; i++) {
      w.record(row({ id: `b${i}`, subject: 'bob', team: 'ops', requestedModel: 'qwen', backend: 'http://sglang-0:30000', timeMs: T0 + DAY, latencyMs: 10 * i, ttftMs: null }));
    }
    w.record(row({ id: 'anon', subject: 'anonymous', team: null, requestedModel: null, status: 401, errorCode: 'unauthorized', promptTokens: 0, completionTokens: 0, timeMs: T0 + 2 * DAY }));
  });
  after(async () => {
    w.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('totals everything in range without grouping', () => {
    const [total] = w.query({ fromMs: T0, toMs: T0 + 3 * DAY, groupBy: [] }).rows;
    assert.equal(total?.requests, 105);
    assert.equal(total?.errors, 11);
    assert.equal(total?.prompt_tokens, 1040);
    assert.equal(total?.total_tokens, 1040 + 2080);
  });

  it('groups by subject with p50 and p99 latency within the sketch error (1%) of the nearest-rank values', () => {
    const rows = w.query({ fromMs: T0, toMs: T0 + 3 * DAY, groupBy: ['subject'] }).rows;
    assert.deepEqual(rows.map((r) => r.subject), ['alice', 'anonymous', 'bob']);
    const alice = rows[0]!;
    assert.deepEqual([alice.requests, alice.errors], [100, 10]);
    const near = (got: number | null, exact: number) => assert.ok(got !== null && Math.abs(got - exact) <= exact * PERCENTILE_RELATIVE_ERROR, `${got} vs ${exact}`);
    near(alice.p50_latency_ms, 50);
    near(alice.p99_latency_ms, 99);
    near(alice.p50_ttft_ms, 25);
    near(alice.p95_latency_ms, 95);
    const bob = rows[2]!;
    near(bob.p50_latency_ms, 20);
    near(bob.p99_latency_ms, 40);
    assert.equal(bob.p50_ttft_ms, null);
  });

  it('groups by several dimensions including the UTC day, and keeps null teams as a group', () => {
    const rows = w.query({ fromMs: T0, toMs: T0 + 3 * DAY, groupBy: ['team', 'model', 'backend', 'day'] }).rows;
    assert.deepEqual(
      rows.map((r) => [r.team, r.model, r.backend, r.day, r.requests]),
      [
        [null, null, 'http://vllm-0:8000', '2024-05-03', 1],
        ['ops', 'qwen', 'http://sglang-0:30000', '2024-05-02', 4],
        ['research', 'llama', 'http://vllm-0:8000', '2024-05-01', 100],
      ],
    );
  });

  it('honours the time range (from inclusive, to exclusive)', () => {
    assert.deepEqual(
      w.query({ fromMs: T0 + DAY, toMs: T0 + 2 * DAY, groupBy: ['subject'] }).rows.map((r) => [r.subject, r.requests]),
      [['bob', 4]],
    );
    assert.equal(w.query({ fromMs: 0, toMs: T0, groupBy: ['subject'] }).rows.length, 0);
    assert.equal(queryUsage(w.db, { fromMs: 0, toMs: T0, groupBy: [] }).rows[0]?.requests, 0);
  });

  it('parses group_by and refuses unknown dimensions with a 400', () => {
    assert.deepEqual(parseGroupBy('team, model,team'), ['team', 'model']);
    assert.deepEqual(parseGroupBy(undefined), []);
    assert.throws(() => parseGroupBy('team,password'), (e: unknown) => e instanceof GatewayError && e.status === 400 && e.param === 'group_by');
  });

  it('renders CSV with a header, quoting, empty nulls and neutralised formulas', () => {
    const csv = toCsv(
      [
        { subject: 'alice', team: 'r,d', requests: 2, errors: 0, prompt_tokens: 1, completion_tokens: 2, cached_tokens: 0, total_tokens: 3, p50_latency_ms: 5, p99_latency_ms: 9, p50_ttft_ms: null, p90_latency_ms: 8, p95_latency_ms: 9, p90_ttft_ms: null, p99_ttft_ms: null },
        { subject: '=HYPERLINK("x")', team: null, requests: 1, errors: 1, prompt_tokens: 0, completion_tokens: 0, cached_tokens: 0, total_tokens: 0, p50_latency_ms: 1, p99_latency_ms: 1, p50_ttft_ms: 1, p90_latency_ms: 1, p95_latency_ms: 1, p90_ttft_ms: 1, p99_ttft_ms: 1 },
      ],
      ['subject', 'team'],
    );
    assert.equal(
      csv,
      'subject,team,requests,errors,prompt_tokens,completion_tokens,cached_tokens,total_tokens,p50_latency_ms,p99_latency_ms,p50_ttft_ms,p90_latency_ms,p95_latency_ms,p90_ttft_ms,p99_ttft_ms\r\n' +
        'alice,"r,d",2,0,1,2,0,3,5,9,,8,9,,\r\n' +
        `"'=HYPERLINK(""x"")",,1,1,0,0,0,0,1,1,1,1,1,1,1\r\n`,
    );
  });
});
