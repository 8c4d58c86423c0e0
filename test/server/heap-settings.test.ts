import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HEAP_GROWING_PERCENT } from '../../src/server/heap-settings.js';

const CHILD = fileURLToPath(new URL('./heap-churn.ts', import.meta.url));
const PRETENURE_CHILD = fileURLToPath(new URL('./pretenure-churn.ts', import.meta.url));
const GROWTH = `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
const NO_PRETENURING = '--no-allocation-site-pretenuring';

interface Churn {
  heapSettings: string[];
  maxOldMb: number;
  liveMb: number;
}

interface Pretenure {
  heapSettings: string[];
  sampled: number;
  old: number;
}

function run<T>(child: string, nodeFlags: string[]): T {
  const r = spawnSync(process.execPath, [...nodeFlags, '--import', 'tsx', child], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const line = r.stdout.trim().split('\n').at(-1)!;
  return JSON.parse(line) as T;
}

const churn = (nodeFlags: string[]) => run<Churn>(CHILD, [...nodeFlags, '--expose-gc']);
const pretenure = (nodeFlags: string[]) => run<Pretenure>(PRETENURE_CHILD, [...nodeFlags, '--allow-natives-syntax']);

describe('V8 heap settings of the gateway process (server/heap-settings.ts)', () => {
  it('are applied by src/main.ts: the old space stays within 2.5x of what is live under promoted churn', () => {
    const c = churn([]);
    assert.deepEqual(c.heapSettings, [GROWTH, NO_PRETENURING], 'the settings the README documents');
    // V8's own growing factor (up to 4x) let the same churn reach ~4x what is live; 50% growth stays under 2x
    // (1.7–1.8x measured; concurrent marking lets it overshoot a little when the machine is busy).
    assert.ok(c.maxOldMb < 2.5 * c.liveMb, `old space peaked at ${c.maxOldMb.toFixed(1)} MB for ${c.liveMb.toFixed(1)} MB live`);
  });

  it("leave an operator's own value on node's command line in place", () => {
    const c = churn(['--heap-growing-percent=300']);
    assert.deepEqual(c.heapSettings, [NO_PRETENURING]);
    // The operator's factor took effect: the same churn peaks clearly higher than under ours. Compared within one run,
    // not against a fixed multiple: under 300% the peak varied from 2.1x to 2.7x of what is live between quiet runs
    // (ours: 1.7x every time), so "above 2.5x" failed now and then.
    const ours = churn([]);
    const ratio = (x: Churn) => x.maxOldMb / x.liveMb;
    assert.ok(ratio(c) > 1.1 * ratio(ours), `old space peaked at ${ratio(c).toFixed(2)}x what is live, against ${ratio(ours).toFixed(2)}x under ours`);
  });

  it('keep a literal whose objects once outlived scavenges in the young generation afterwards', () => {
    const p = pretenure([]);
    assert.ok(p.heapSettings.includes(NO_PRETENURING));
    assert.ok(p.sampled > 100);
    assert.equal(p.old, 0, `${p.old} of ${p.sampled} short-lived objects were allocated in the old generation`);
  });

  it("leave an operator's own choice of pretenuring in place (and V8's own pretenures the literal)", () => {
    const p = pretenure(['--allocation-site-pretenuring']);
    assert.deepEqual(p.heapSettings, [GROWTH]);
    // The case the setting exists for: V8 tenures the literal after the burst and keeps doing so once it dies young.
    assert.ok(p.old > 0, 'V8 no longer pretenures the literal: the setting may no longer be needed');
  });
});
