import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { parseConfigText } from '../../src/config/index.js';
import { startGateway, silentLogger, type Gateway } from '../../src/server/index.js';
import { createTelemetry } from '../../src/telemetry/index.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

const ROOT = resolve(import.meta.dirname, '../..');
const DIR = join(ROOT, 'deploy/kubernetes');

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- manifests are free-form YAML

async function manifests(): Promise<Obj[]> {
  const out: Obj[] = [];
  for (const f of (await readdir(DIR)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')) {
    for (const doc of parseAllDocuments(await readFile(join(DIR, f), 'utf8'))) {
      assert.equal(doc.errors.length, 0, `${f}: ${doc.errors.join(', ')}`);
      out.push(doc.toJS() as Obj);
    }
  }
  return out;
}

const find = (all: Obj[], kind: string, name: string): Obj => {
  const m = all.find((o) => o.kind === kind && o.metadata?.name === name);
  assert.ok(m, `no ${kind} ${name} in deploy/kubernetes`);
  return m;
};

describe('Kubernetes manifests (deploy/kubernetes)', () => {
  let all: Obj[];
  let container: Obj;
  let configText: string;
  let env: Record<string, string>;
  before(async () => {
    all = await manifests();
    const dep = find(all, 'Deployment', 'infergate');
    container = dep.spec.template.spec.containers[0];
    configText = find(all, 'ConfigMap', 'infergate-config').data['config.yaml'];
    const secret = find(all, 'Secret', 'infergate-secrets');
    env = {};
    for (const e of container.env) env[e.name] = e.value ?? secret.stringData[e.valueFrom.secretKeyRef.key];
  });

  test('kustomization lists every manifest', async () => {
    const k = parse(await readFile(join(DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    const files = (await readdir(DIR)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
    assert.deepEqual([...k.resources].sort(), files);
  });

  test('the ConfigMap holds a valid gateway config once the Secret fills its ${VAR}s', () => {
    for (const e of container.env) {
      if (e.valueFrom) {
        const secret = find(all, 'Secret', e.valueFrom.secretKeyRef.name);
        assert.ok(e.valueFrom.secretKeyRef.key in secret.stringData, `secret key ${e.valueFrom.secretKeyRef.key}`);
      }
    }
    const cfg = parseConfigText(configText, 'configmap', env);
    assert.equal(cfg.server.workers, 'auto');
  });

  test('ports, probe paths and the config mount agree with what the gateway uses', async () => {
    const cfg = parseConfigText(configText, 'configmap', env);
    const http = container.ports.find((p: Obj) => p.name === 'http');
    assert.equal(http.containerPort, cfg.server.listen.port);
    const svc = find(all, 'Service', 'infergate');
    assert.equal(svc.spec.ports[0].targetPort, 'http');
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');
    assert.equal(container.livenessProbe.httpGet.path, '/healthz');
    assert.equal(container.startupProbe.httpGet.path, '/healthz');
    // The start may upgrade a large usage log before serving: the startup probe must allow minutes, not seconds.
    assert.ok(container.startupProbe.periodSeconds * container.startupProbe.failureThreshold >= 300);
    for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe]) {
      assert.equal(probe.httpGet.port, 'http');
      // The kubelet sends no token: the probe paths must be open routes.
      assert.ok(cfg.auth !== 'none' && cfg.auth.open_routes.includes(probe.httpGet.path), `${probe.httpGet.path} is not an open route`);
    }
    // INFERGATE_CONFIG (here and in the image) is the ConfigMap's key inside the mounted volume.
    const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, new RegExp(`INFERGATE_CONFIG=${env.INFERGATE_CONFIG}\\b`));
    const dep = find(all, 'Deployment', 'infergate');
    const vol = dep.spec.template.spec.volumes.find((v: Obj) => v.configMap?.name === 'infergate-config');
    const mount = container.volumeMounts.find((m: Obj) => m.name === vol.name);
    assert.equal(posix.join(mount.mountPath, 'config.yaml'), env.INFERGATE_CONFIG);
    // Usage log on the writable data volume; the drain fits in the grace period; the share fallback knows the replica count.
    const data = container.volumeMounts.find((m: Obj) => m.mountPath === '/app/data');
    assert.ok(data && cfg.usage !== false && cfg.usage.sqlite.startsWith('/app/data/'));
    // The preStop pause runs before SIGTERM: the grace period must hold it and the whole drain.
    const pause = Number(container.lifecycle?.preStop?.exec?.command?.[1] ?? 0) * 1000;
    assert.ok(dep.spec.template.spec.terminationGracePeriodSeconds * 1000 > pause + cfg.server.drain);
    assert.equal(cfg.state?.replicas, dep.spec.replicas);
  });

  test('gateway-managed keys live on that Redis (no common disk), under a pepper from the Secret', () => {
    const cfg = parseConfigText(configText, 'configmap', env);
    assert.ok(cfg.keys !== false && cfg.keys.store === 'auto' && cfg.state?.redis, 'keys.store auto with state.redis: keys on Redis');
    assert.ok(Buffer.byteLength(cfg.keys.pepper ?? '') >= 32);
  });

  test('state.redis names the Redis Service and its port', () => {
    const cfg = parseConfigText(configText, 'configmap', env);
    const url = new URL(cfg.state!.redis!);
    const svc = find(all, 'Service', url.hostname);
    assert.equal(svc.spec.ports[0].port, Number(url.port));
    const redisDep = find(all, 'Deployment', 'infergate-redis');
    assert.equal(redisDep.spec.template.spec.containers[0].ports[0].name, svc.spec.ports[0].targetPort);
  });

  test("Redis keeps the quotas when its pod is replaced: an append-only file on a claim, one pod at a time", () => {
    const redisDep = find(all, 'Deployment', 'infergate-redis');
    const pod = redisDep.spec.template.spec;
    assert.ok(pod.containers[0].args.join(' ').includes('--appendonly yes'));
    const dataMount = pod.containers[0].volumeMounts.find((m: { mountPath: string }) => m.mountPath === '/data');
    const volume = pod.volumes.find((v: { name: string }) => v.name === dataMount.name);
    assert.ok(volume.persistentVolumeClaim, 'the data volume is deleted with the pod');
    find(all, 'PersistentVolumeClaim', volume.persistentVolumeClaim.claimName);
    assert.equal(redisDep.spec.strategy?.type, 'Recreate');
  });

  describe('the probes reach real endpoints', () => {
    let redis: TestRedis;
    let gw: Gateway;
    let dir: string;
    before(async () => {
      redis = await startRedis();
      dir = await mkdtemp(join(tmpdir(), 'infergate-deploy-'));
      // The ConfigMap's config as it is, except what must point at this machine: listen, Redis and the data dir.
      const doc = parse(configText.replaceAll('${VLLM_API_KEY}', 'k').replaceAll('${KEYS_PEPPER}', env.KEYS_PEPPER!)) as Obj;
      doc.server.listen = '127.0.0.1:0';
      doc.state.redis = redis.url;
      doc.usage.sqlite = join(dir, 'usage.db');
      doc.keys.sqlite = join(dir, 'keys.db');
      doc.telemetry.log_level = 'silent';
      gw = await startGateway({
        configText: JSON.stringify(doc),
        logger: silentLogger,
        telemetry: createTelemetry({ tracing: false, log: { level: 'silent' }, processMetrics: false }),
        watch: false,
      });
    });
    after(async () => {
      await gw?.close(100);
      await redis?.close();
      await rm(dir, { recursive: true, force: true });
    });

    test('liveness answers 200 and readiness answers without a token (503: no backend here)', async () => {
      const live = await fetch(`${gw.url}${container.livenessProbe.httpGet.path}`);
      assert.equal(live.status, 200);
      const ready = await fetch(`${gw.url}${container.readinessProbe.httpGet.path}`);
      assert.ok(ready.status === 200 || ready.status === 503, `readyz answered ${ready.status}`);
      const api = await fetch(`${gw.url}/v1/models`);
      assert.equal(api.status, 401, 'the API itself still needs a token');
    });
  });
});
