import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, compileConfig, loadConfigFile, parseConfigText } from '../../src/config/index.js';

function problems(text: string) {
  try {
    parseConfigText(text, 'gw.yaml', {});
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

const BASE = `auth: none
models:
  - name: llama
    backends:
      - url: http://vllm-0:8000
`;

test('routes with token_aware by default, also for the embedded simulated fleet', () => {
  const cfg = parseConfigText(BASE, 'gw.yaml', {});
  assert.equal(cfg.models[0]!.policy, 'token_aware');
  const sim = parseConfigText('auth: none\nsim: { replicas: 2 }\n', 'gw.yaml', {});
  const rt = compileConfig(sim, 'gw.yaml', { simUrls: ['http://127.0.0.1:9000', 'http://127.0.0.1:9001'] });
  assert.equal(rt.modelList[0]!.pool.policy, 'token_aware');
});

test('fills every routing default when the section is absent', () => {
  const rt = compileConfig(parseConfigText(BASE, 'gw.yaml', {}), 'gw.yaml');
  assert.deepEqual(rt.routing, {
    router: {
      probeIntervalMs: 5000,
      probeTimeoutMs: 2000,
      scrapeIntervalMs: 250,
      scrapeTimeoutMs: 1000,
      unhealthyThreshold: 2,
      healthyThreshold: 2,
      ejectAfter: 3,
      baseEjectMs: 1000,
      maxEjectMs: 30_000,
      queue: { maxQueued: 1024, maxWaitMs: 30_000 },
    },
    retryBudget: { ratio: 0.2, minPerSecond: 10, windowMs: 10_000 },
  });
  assert.ok(Object.isFrozen(rt.routing.router));
});

test('compiles a routing section with durations in any unit', () => {
  const cfg = parseConfigText(
    `${BASE}routing:
  health: { probe_interval: 250ms, probe_timeout: 100ms, unhealthy_after: 1, healthy_after: 3, eject_after: 5, eject_base: 2s, eject_max: 1m }
  scrape: { interval: 0, timeout: 300ms }
  queue: { max_size: 0, max_wait: 1500ms }
  retry_budget: { ratio: 0.5, min_per_second: 0, window: 30s }
`,
    'gw.yaml',
    {},
  );
  const r = compileConfig(cfg, 'gw.yaml').routing;
  assert.deepEqual(r.router, {
    probeIntervalMs: 250,
    probeTimeoutMs: 100,
    scrapeIntervalMs: 0,
    scrapeTimeoutMs: 300,
    unhealthyThreshold: 1,
    healthyThreshold: 3,
    ejectAfter: 5,
    baseEjectMs: 2000,
    maxEjectMs: 60_000,
    queue: { maxQueued: 0, maxWaitMs: 1500 },
  });
  assert.deepEqual(r.retryBudget, { ratio: 0.5, minPerSecond: 0, windowMs: 30_000 });
});

test('derives the scrape timeout from the interval when it is not set', () => {
  const at = (interval: string) =>
    compileConfig(parseConfigText(`${BASE}routing: { scrape: { interval: ${interval} } }\n`, 'gw.yaml', {}), 'gw.yaml').routing.router.scrapeTimeoutMs;
  assert.equal(at('10ms'), 100);
  assert.equal(at('100ms'), 400);
  assert.equal(at('5s'), 2000);
});

test('explains bad routing values with their YAML path and line', () => {
  const ps = problems(`${BASE}routing:
  health:
    probe_interval: often
    eject_base: 0s
    unhealthy_after: 0
    healty_after: 2
  retry_budget: { ratio: 1.5, min_per_second: -1 }
  queue: { max_wait: -5 }
`);
  const byPath = new Map(ps.map((p) => [p.path, p]));
  assert.match(byPath.get('routing.health.probe_interval')!.message, /duration like 250ms/);
  assert.equal(byPath.get('routing.health.probe_interval')!.line, 8);
  assert.match(byPath.get('routing.health.eject_base')!.message, /greater than 0/);
  assert.match(byPath.get('routing.health.unhealthy_after')!.message, />=\s*1/);
  assert.match(byPath.get('routing.health.healty_after')!.message, /unknown key "healty_after"/);
  assert.equal(byPath.get('routing.health.healty_after')!.line, 11);
  assert.match(byPath.get('routing.retry_budget.ratio')!.message, /<=\s*1/);
  assert.match(byPath.get('routing.retry_budget.min_per_second')!.message, />=\s*0/);
  assert.ok(byPath.has('routing.queue.max_wait'));
});

test('refuses an ejection ceiling below its base', () => {
  const [p] = problems(`${BASE}routing: { health: { eject_base: 10s, eject_max: 5s } }\n`);
  assert.equal(p!.path, 'routing.health.eject_max');
  assert.match(p!.message, /must not be shorter than eject_base/);
});

test('splits by weight when backends carry weights and no policy is named; refuses weights under a policy that ignores them', () => {
  const implicit = parseConfigText(`${BASE}        weight: 3\n      - url: http://vllm-1:8000\n`, 'gw.yaml', {});
  assert.equal(implicit.models[0]!.policy, 'weighted');
  assert.equal(implicit.models[0]!.backends[0]!.weight, 3);
  const named = BASE.replace('  - name: llama\n', '  - name: llama\n    policy: token_aware\n');
  const [p] = problems(`${named}        weight: 3\n`);
  assert.equal(p!.path, 'models[0].backends[0].weight');
  assert.match(p!.message, /weight only applies to policy: weighted \(this model uses token_aware\)/);
  const cfg = parseConfigText(`${BASE.replace('  - name: llama\n', '  - name: llama\n    policy: weighted\n')}        weight: 3\n`, 'gw.yaml', {});
  assert.equal(cfg.models[0]!.backends[0]!.weight, 3);
});

test('names the offending value of a wrong type', () => {
  const ps = problems(`${BASE}routing: { queue: { max_size: 2.5 }, retry_budget: { ratio: lots } }\n`);
  const byPath = new Map(ps.map((p) => [p.path, p.message]));
  assert.equal(byPath.get('routing.queue.max_size'), 'expected int, got 2.5');
  assert.equal(byPath.get('routing.retry_budget.ratio'), 'expected number, got "lots"');
});

test('ships an example config and a default config that validate', async () => {
  const example = await loadConfigFile('config/example.yaml', {});
  assert.equal(example.models.find((m) => m.name === 'qwen-canary')?.policy, 'weighted');
  assert.equal(example.routing.retry_budget.ratio, 0.2);
  await loadConfigFile('config/default.yaml', {});
});
