import { Worker } from 'node:worker_threads';

/**
 * Starts one of the usage log's threads from its module name (`writer-thread`, `checkpoint-thread`), next to this
 * file: a .js file in a compiled build, the .ts source under tsx. On Node 20 a worker does not inherit tsx's module
 * hooks, so from sources the thread registers them first.
 */
export function startUsageThread(name: string, workerData: unknown): Worker {
  const fromSources = import.meta.url.endsWith('.ts');
  const url = new URL(`./${name}.${fromSources ? 'ts' : 'js'}`, import.meta.url);
  if (!fromSources) return new Worker(url, { workerData });
  const api = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(api)}).then(({ register }) => { register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}
