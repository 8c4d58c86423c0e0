import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, compileConfig, parseConfigText } from '../../src/config/index.js';

function problems(text: string, env: NodeJS.ProcessEnv = {}) {
  try {
    parseConfigText(text, 'gw.yaml', env);
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

test('accepts a minimal config and fills defaults', () => {
  const cfg = parseConfigText(BASE, 'gw.yaml', {});
  assert.equal(cfg.server.listen.port, 8080);
  assert.equal(cfg.server.timeouts.first_byte, 60_000);
  assert.equal(cfg.models[0]!.backends[0]!.kind, 'vllm');
});

test('points an unknown key at its file, line, column and YAML path', () => {
  const [p] = problems(`${BASE}        wieght: 2\n`);
  assert.equal(p!.file, 'gw.yaml');
  assert.equal(p!.path, 'models[0].backends[0].wieght');
  assert.equal(p!.line, 6);
  assert.equal(p!.column, 9);
  assert.match(p!.message, /unknown key "wieght"/);
});

test('says what was expected for a wrong type or value', () => {
  const ps = problems(`server:\n  timeouts: { connect: soon }\n${BASE}        kind: vllmm\n`);
  const byPath = new Map(ps.map((p) => [p.path, p]));
  assert.match(byPath.get('server.timeouts.connect')!.message, /duration/);
  assert.equal(byPath.get('server.timeouts.connect')!.line, 2);
  assert.match(byPath.get('models[0].backends[0].kind')!.message, /one of "vllm"/);
});

test('reports a missing required field and YAML syntax errors with positions', () => {
  const [missing] = problems('auth: none\nmodels:\n  - name: x\n');
  assert.equal(missing!.path, 'models[0].backends');
  assert.match(missing!.message, /expected array/);
  const [syntax] = problems('models: [\n  - name: x\n');
  assert.match(syntax!.message, /YAML syntax/);
  assert.ok(syntax!.line >= 1);
});

test('substitutes ${VAR} and ${VAR:-default} and types whole references', () => {
  const cfg = parseConfigText(`server:\n  listen: \${HOST:-127.0.0.1}:\${PORT}\n  connections: \${CONNS:-16}\n${BASE}        api_key: \${KEY}\n`, 'gw.yaml', { PORT: '9999', KEY: 'sk-1' });
  assert.deepEqual(cfg.server.listen, { host: '127.0.0.1', port: 9999 });
  assert.equal(cfg.server.connections, 16);
  assert.equal(cfg.models[0]!.backends[0]!.api_key, 'sk-1');
  const [p] = problems(`${BASE}        api_key: \${MISSING_KEY}\n`);
  assert.match(p!.message, /MISSING_KEY is not set/);
  assert.equal(p!.line, 6);
});

test('names a variable once per value, and says whether it is unset or set but empty', () => {
  const text = `${BASE}        api_key: "\${TOKEN}-\${TOKEN}"
`;
  const unset = problems(text);
  assert.deepEqual(unset.map((p) => p.message), ['environment variable TOKEN is not set (use ${TOKEN:-default} for a default)']);
  const empty = problems(text, { TOKEN: '' });
  assert.deepEqual(empty.map((p) => p.message), ['environment variable TOKEN is set but empty (use ${TOKEN:-default} for a default)']);
});

test('rejects duplicate names, unknown fallbacks and bad URLs', () => {
  const ps = problems(`auth: none
models:
  - name: a
    aliases: [b]
    fallback: [zzz]
    backends: [{ url: "ftp://x" }]
  - name: b
    backends: [{ url: "http://y:1" }]
`);
  const msgs = ps.map((p) => `${p.path}: ${p.message}`).join('\n');
  assert.match(msgs, /models\[1\]\.name: model name "b" is already used/);
  assert.match(msgs, /models\[0\]\.fallback\[0\]: unknown fallback model "zzz"/);
  assert.match(msgs, /models\[0\]\.backends\[0\]\.url: expected an http\(s\) URL/);
});

test('compiles aliases, upstream names and per-endpoint paths', () => {
  const cfg = parseConfigText(`auth: none
models:
  - name: llama
    aliases: [l3]
    backends:
      - { url: "http://h:8000", model: meta/Llama }
      - { url: "https://api.example.com/v1/", kind: openai, api_key: k }
`, 'gw.yaml', {});
  const rt = compileConfig(cfg, 'gw.yaml', { nowSeconds: 100 });
  const m = rt.models.get('l3')!;
  assert.equal(m.name, 'llama');
  assert.equal(m.backends[0]!.model, 'meta/Llama');
  assert.equal(m.backends[0]!.paths.chat, '/v1/chat/completions');
  assert.equal(m.backends[1]!.paths.embeddings, '/v1/embeddings');
  assert.equal(m.backends[1]!.model, 'llama');
  assert.equal(m.backends[1]!.authorization, 'Bearer k');
  assert.equal(rt.backends.size, 2);
});

test('requires an explicit auth section so that turning auth off is a decision', () => {
  const [p] = problems('models:\n  - name: x\n    backends: [{ url: "http://h:1" }]\n');
  assert.equal(p!.path, 'auth');
  assert.match(p!.message, /required.*"none"/);
});
