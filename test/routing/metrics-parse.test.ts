import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { metricsFromText, parsePrometheus } from '../../src/routing/state/metrics-parse.js';
import { looksRestarted } from '../../src/routing/state/engine-metrics.js';
import { renderMetrics } from '../../src/sim/personality/metrics.js';
import { createFrontStats } from '../../src/sim/front-stats.js';
import type { EngineSnapshot } from '../../src/sim/engine/types.js';

const snapshot: EngineSnapshot = {
  running: 12,
  waiting: 3,
  kvUsage: 0.42,
  kvBlocksTotal: 29_205,
  prefixQueriesTokens: 100_000,
  prefixHitsTokens: 60_000,
  preemptions: 1,
  promptTokensTotal: 100_000,
  generationTokensTotal: 50_000,
  requestsFinished: 80,
  ttftSeconds: [],
  itlSeconds: [],
  e2eSeconds: [],
};

const page = (personality: 'vllm' | 'sglang' | 'tgi' | 'llamacpp') => renderMetrics({ personality, model: 'm', snapshot, stats: createFrontStats() });

describe('scraped /metrics, normalised per engine', () => {
  it('reads vLLM gauges, counters and the cache config labels', () => {
    const m = metricsFromText('vllm', page('vllm'));
    assert.equal(m.running, 12);
    assert.equal(m.waiting, 3);
    assert.equal(m.kvUsage, 0.42);
    assert.equal(m.blockSize, 16);
    assert.equal(m.kvCapacityTokens, 29_205 * 16);
    assert.equal(m.prefixQueriesTokens, 100_000);
    assert.equal(m.prefixHitsTokens, 60_000);
  });

  it('reads SGLang’s running, queue, token usage and pool size', () => {
    const m = metricsFromText('sglang', page('sglang'));
    assert.equal(m.running, 12);
    assert.equal(m.waiting, 3);
    assert.equal(m.kvUsage, 0.42);
    assert.equal(m.kvCapacityTokens, 29_205 * 16);
  });

  it('reads TGI’s batch and queue, leaving KV usage unknown', () => {
    const m = metricsFromText('tgi', page('tgi'));
    assert.equal(m.running, 12);
    assert.equal(m.waiting, 3);
    assert.equal(m.kvUsage, null);
  });

  it('reads llama.cpp’s processing and deferred requests', () => {
    const m = metricsFromText('llamacpp', page('llamacpp'));
    assert.equal(m.running, 12);
    assert.equal(m.waiting, 3);
  });

  it('sums series of one name across labels and skips malformed lines', () => {
    const text = ['# HELP x', 'vllm:num_requests_running{engine="0"} 2', 'vllm:num_requests_running{engine="1"} 3', 'garbage line', 'vllm:num_requests_waiting NaN-ish', ''].join('\n');
    assert.equal(parsePrometheus(text, new Set(['vllm:num_requests_running'])).length, 2);
    const m = metricsFromText('vllm', text);
    assert.equal(m.running, 5);
    assert.equal(m.waiting, null);
  });

  it('detects a restart from counters that went backwards', () => {
    const before = metricsFromText('vllm', page('vllm'));
    const after = { ...before, generationTokensTotal: 10 };
    assert.equal(looksRestarted(before, after), true);
    assert.equal(looksRestarted(before, before), false);
  });
});
