import { runJob, type BenchJob } from './bench-job.js';

/** Child-process entry of the routing benchmark: runs jobs sent over IPC, one at a time. */
process.on('message', (msg: unknown) => {
  const { id, job } = msg as { id: number; job: BenchJob };
  try {
    process.send?.({ id, summary: runJob(job) });
  } catch (err) {
    process.send?.({ id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});

// The parent went away (finished, killed, crashed): nothing left to do.
process.on('disconnect', () => process.exit(0));
