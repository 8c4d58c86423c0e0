import { Worker, type ResourceLimits } from 'node:worker_threads';

export type UsageThreadName = 'writer-thread' | 'maintenance-thread';

/**
 * Each thread is a V8 isolate with a heap of its own, by default sized like the main thread's (a young generation of
 * two 16 MiB semi-spaces, an old generation bounded only by the machine): ~25 MB resident for a thread whose live
 * objects are a few megabytes. These limits fit what each thread holds (bench/NOTES.md, "Memory"). The young
 * generation (three semi-spaces' worth, V8's unit) bounds what a thread keeps resident between collections; the old
 * generation is a ceiling with room to spare: a thread that outgrows it ends with ERR_WORKER_OUT_OF_MEMORY instead of
 * taking the process down, and its owner takes the work back onto the main thread (the writer re-writes there every
 * row the thread had not committed; the maintenance thread's checkpoints and rollups fall back likewise).
 *  - writer: batches in flight (up to usage.queue_max rows), peers' batches, and a rollup fold of up to 32,768 groups
 *    (a worst-case fold peaked at 42 MB of heap within a 64 MB limit, and ran out of memory within 32 MB);
 *  - maintenance (one core): a rollup fold of at most 4,096 groups (fits a 16 MB limit), and the WAL checkpoints
 *    (one connection and a timer, nothing held).
 * Run from sources (tests, `npm start`), a thread also holds tsx's loader, ~9 MB, within these bounds.
 */
export const USAGE_THREAD_LIMITS: Readonly<Record<UsageThreadName, Readonly<ResourceLimits>>> = {
  'writer-thread': { maxYoungGenerationSizeMb: 6, maxOldGenerationSizeMb: 256 },
  'maintenance-thread': { maxYoungGenerationSizeMb: 6, maxOldGenerationSizeMb: 64 },
};

/**
 * Starts one of the usage log's threads from its module name, next to this file (a .js file in a compiled build, the
 * .ts source under tsx), with its resource limits (`limits` replaces them: tests use it to make a thread run out of
 * memory). On Node 20 a worker does not inherit tsx's module hooks, so from sources the thread registers them first.
 */
export function startUsageThread(name: UsageThreadName, workerData: unknown, limits: Readonly<ResourceLimits> = USAGE_THREAD_LIMITS[name]): Worker {
  const resourceLimits = { ...limits };
  const fromSources = import.meta.url.endsWith('.ts');
  const url = new URL(`./${name}.${fromSources ? 'ts' : 'js'}`, import.meta.url);
  if (!fromSources) return new Worker(url, { workerData, resourceLimits });
  const api = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(api)}).then(({ register }) => { register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { eval: true, workerData, resourceLimits });
}
