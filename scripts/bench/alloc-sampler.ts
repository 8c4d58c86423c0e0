/**
 * Preloaded into a profiled process (`node --import alloc-sampler.js ...`): samples every allocation site with V8's
 * sampling heap profiler, including objects that later died (the garbage a hot path makes is what costs GC time;
 * `node --heap-prof` only keeps objects still alive at exit). Written to $BENCH_ALLOC_PROFILE when the process exits.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const out = process.env.BENCH_ALLOC_PROFILE;
if (out) {
  const session = new Session();
  session.connect();
  session.post('HeapProfiler.startSampling', {
    samplingInterval: Number(process.env.BENCH_ALLOC_INTERVAL ?? 1024),
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  process.on('exit', () => {
    // Same-thread inspector sessions answer synchronously, so this completes inside the 'exit' handler.
    session.post('HeapProfiler.stopSampling', (err, res) => {
      if (!err) writeFileSync(out, JSON.stringify(res.profile));
    });
  });
}
