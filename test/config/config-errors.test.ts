import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfigText } from '../../src/config/index.js';

function problems(text: string, env: NodeJS.ProcessEnv = {}) {
  try {
    parseConfigText(text, 'gw.yaml', env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

const MODELS = `models:
  - name: llama
    backends:
      - url: http://vllm-0:8000
`;

test('reports a YAML syntax error at the line and column where it is, not at 1:1', () => {
  const ps = problems(`auth: none\n${MODELS}server:\n  listen: [1, 2\n  drain: 5s\n`);
  assert.ok(ps.length >= 1);
  assert.match(ps[0]!.message, /YAML syntax/);
  assert.ok(ps[0]!.line >= 7, `line ${ps[0]!.line}:${ps[0]!.column} is inside the broken flow sequence`);
  const [tab] = problems(`auth: none\n${MODELS}telemetry:\n  metrics: true\n   log_level: info\n`);
  assert.ok(tab!.line === 7 || tab!.line === 8, `line ${tab!.line}`);
  assert.ok(tab!.column > 1);
});

test('keeps a quoted "${VAR}" a string after substitution, so an all-digit secret works', () => {
  const secret = '12345678901234567890123456789012';
  const text = `auth:
  issuers:
    - issuer: dev
      audience: infergate
      secret: "\${DEV_SECRET}"
      algorithms: [HS256]
${MODELS}        api_key: '\${KEY}'
`;
  const cfg = parseConfigText(text, 'gw.yaml', { DEV_SECRET: secret, KEY: 'true' });
  assert.notEqual(cfg.auth, 'none');
  if (cfg.auth === 'none') return;
  assert.equal(cfg.auth.issuers[0]!.secret, secret);
  assert.equal(cfg.models[0]!.backends[0]!.api_key, 'true');
  // Unquoted, a whole reference still takes the type its text reads as.
  const typed = parseConfigText(`auth: none\nserver:\n  connections: \${CONNS}\n${MODELS}`, 'gw.yaml', { CONNS: '7' });
  assert.equal(typed.server.connections, 7);
});

test('says what type was really given inside auth and usage, not "a mapping"', () => {
  const ps = problems(`auth:
  issuers:
    - issuer: dev
      audience: 42
      secret: "0123456789abcdef0123456789abcdef"
      algorithms: HS256
  token_cache_size: "many"
usage:
  sqlite: [a, b]
  batch_size: true
${MODELS}`);
  const byPath = new Map(ps.map((p) => [p.path, p.message]));
  assert.match(byPath.get('auth.issuers[0].algorithms') ?? '', /expected array, got "HS256"/);
  assert.match(byPath.get('auth.token_cache_size') ?? '', /expected number, got "many"/);
  assert.match(byPath.get('usage.sqlite') ?? '', /expected string, got a list/);
  assert.match(byPath.get('usage.batch_size') ?? '', /expected number, got true/);
  for (const m of byPath.values()) assert.doesNotMatch(m, /got a mapping/);
});

test('a key that takes one of several types says which, and what it got, instead of "Invalid input"', () => {
  const ps = problems(`auth:
  issuers:
    - issuer: dev
      secret: "0123456789abcdef0123456789abcdef0123"
      algorithms: [HS256]
server:
  workers: many
telemetry:
  tracing: sometimes
keys: yes
${MODELS}`);
  const by = (path: string) => ps.find((p) => p.path === path)?.message;
  assert.equal(by('auth.issuers[0].audience'), 'expected string or a list, got nothing (required)');
  assert.equal(by('server.workers'), 'expected "auto" or number, got "many"');
  assert.equal(by('telemetry.tracing'), 'expected boolean or "auto", got "sometimes"');
  assert.equal(by('keys'), 'expected false or a mapping, got "yes"');
  for (const p of ps) assert.doesNotMatch(p.message, /^Invalid input$/, `${p.path}: ${p.message}`);
});

test('a key of a few allowed values says what came: a key left out is named as missing, not as a value refused', () => {
  const ps = problems(`auth: none
models:
  - name: m
    policy: fastest
    backends:
      - url: http://h:8000
        kv_events: { endpoint: "tcp://h:5557" }
`);
  const by = (path: string) => ps.find((p) => p.path === path)?.message ?? '';
  assert.match(by('models[0].backends[0].kv_events.tokenizer'), /^expected one of "simulator", .*, got nothing \(required\)$/);
  assert.match(by('models[0].policy'), /^expected one of "round_robin", .*, got "fastest"$/);
});

test('reads YAML merge keys: a backend written once and merged into the others', () => {
  const cfg = parseConfigText(`auth: none
models:
  - name: m
    backends:
      - &vllm { url: "http://a:8000", kind: sglang, model: org/m }
      - <<: *vllm
        url: "http://b:8000"
`, 'gw.yaml');
  assert.deepEqual(cfg.models[0]!.backends.map((b) => [b.url, b.kind, b.model]), [['http://a:8000', 'sglang', 'org/m'], ['http://b:8000', 'sglang', 'org/m']]);
  // A typo next to a merge is still located at its own line.
  const [p] = problems(`auth: none
models:
  - name: m
    backends:
      - &vllm { url: "http://a:8000" }
      - <<: *vllm
        kidn: vllm
`);
  assert.equal(`${p!.line} ${p!.path} ${p!.message}`, '7 models[0].backends[1].kidn unknown key "kidn"');
});

test('refuses two limits (or quotas) with the same match: only the first would apply, the second silently never enforced', () => {
  // rpm and concurrency written as two rules for every subject: selectRules keeps one rule per match, the first.
  const ps = problems(`auth: none
${MODELS}limits:
  - match: { subject: '*' }
    concurrency: 5
  - match: { subject: '*' }
    rpm: 30
  - match: { team: '*', subject: '*' }
    tpm: 1000
quotas:
  - match: { team: research }
    tokens_per_day: 1000
  - match: { team: research }
    tokens_per_month: 20000
`);
  assert.deepEqual(
    ps.map((p) => [p.path, p.line]),
    [
      ['limits[1].match', 9],
      ['quotas[1].match', 16],
    ],
    JSON.stringify(ps),
  );
  assert.match(ps[0]!.message, /same match as limits\[0\].*one rule/);
  // Different matches (a per-subject default and one subject's override, a team rule) stay valid.
  parseConfigText(`auth: none
${MODELS}limits:
  - match: { subject: '*' }
    rpm: 30
  - match: { subject: alice }
    rpm: 60
  - match: { team: '*' }
    concurrency: 5
`, 'gw.yaml', {});
});
