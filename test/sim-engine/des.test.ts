import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { catalogEntry } from '../../src/sim/des/catalog.js';
import { homogeneous } from '../../src/sim/des/fleet.js';
import { runSimulation } from '../../src/sim/des/runner.js';
import { VirtualScheduler } from '../../src/sim/des/virtual-scheduler.js';

describe('virtual scheduler', () => {
  it('runs events in time order, same-time events in scheduling order, and skips cancelled ones', () => {
    const s = new VirtualScheduler();
    const log: string[] = [];
    s.at(20, () => log.push(`b@${s.now()}`));
    s.at(10, () => {
      log.push(`a@${s.now()}`);
      s.at(5, () => log.push(`late@${s.now()}`));
    });
    s.at(20, () => log.push(`c@${s.now()}`));
    const h = s.at(15, () => log.push('cancelled'));
    s.cancel(h);
    s.run();
    assert.deepEqual(log, ['a@10', 'late@10', 'b@20', 'c@20']);
  });

  it('stops at a horizon and moves the clock to it', () => {
    const s = new VirtualScheduler();
    let ran = 0;
    s.at(50, () => ran++);
    s.at(150, () => ran++);
    s.run(100);
    assert.equal(ran, 1);
    assert.equal(s.now(), 100);
  });
});

describe('benchmark workloads', () => {
  it('are deterministic by session index', () => {
    const w = catalogEntry('interactive-chat').build(0.1);
    const a = w.session(17);
    const b = w.session(17);
    assert.deepEqual(Array.from(a.turns[0]!.promptIds.slice(0, 50)), Array.from(b.turns[0]!.promptIds.slice(0, 50)));
    assert.equal(a.turns[0]!.promptText, b.turns[0]!.promptText);
  });

  it('make each chat turn resend the previous prompt and answer', () => {
    const w = catalogEntry('few-sys-chat').build(0.1);
    const s = w.session(3);
    const [t1, t2] = [s.turns[0]!, s.turns[1]!];
    const prefix = t1.promptIds.length + t1.outputTokens;
    assert.ok(t2.promptIds.length > prefix);
    assert.deepEqual(Array.from(t2.promptIds.subarray(0, t1.promptIds.length)), Array.from(t1.promptIds));
    assert.deepEqual(Array.from(t2.promptIds.subarray(t1.promptIds.length, prefix)), Array.from(t1.outputIds ?? []));
    assert.ok(t2.promptText.startsWith(t1.promptText));
  });
});

describe('discrete-event runs', () => {
  const base = { workload: catalogEntry('reasoning').build(0.1), qps: 8, backends: homogeneous(2) } as const;

  it('repeat exactly with the same seed', () => {
    const a = runSimulation({ ...base, policy: 'token_aware', seed: 5 });
    const b = runSimulation({ ...base, policy: 'token_aware', seed: 5 });
    assert.deepEqual(a.ttftMs, b.ttftMs);
    assert.equal(a.outputTokens, b.outputTokens);
  });

  it('compute a floor no request beats by more than jitter, and the decode batch they ran with', () => {
    const r = runSimulation({ ...base, policy: 'round_robin', seed: 5, floorSamples: 50 });
    assert.ok(r.floor.length > 10 && r.floor.length <= 51, `${r.floor.length} floor samples`);
    const idle = r.floor.map((f) => f.idleMs).sort((a, b) => a - b);
    const ttft = [...r.ttftMs].sort((a, b) => a - b);
    // Alone on an idle replica with the shared prefix warm, a request is at least as fast as in the loaded run.
    assert.ok((idle[idle.length - 1] as number) <= (ttft[ttft.length - 1] as number) * 1.1);
    assert.ok((idle[0] as number) > 5, 'at least one engine step');
    assert.ok(r.meanRunning > 1 && r.meanKvTokens > 1000, `batch ${r.meanRunning}, kv ${r.meanKvTokens}`);
    assert.equal(runSimulation({ ...base, policy: 'round_robin', seed: 5 }).floor.length, 0);
  });

  it('give every policy the same arrivals', () => {
    const a = runSimulation({ ...base, policy: 'round_robin', seed: 5 });
    const b = runSimulation({ ...base, policy: 'lmetric', seed: 5 });
    assert.equal(a.completed + a.failed, b.completed + b.failed);
    assert.equal(a.outputTokens, b.outputTokens);
  });
});
