/**
 * The overhead benchmark (issues 2 and 5): infergate against the same fast simulator reached directly, a bare Node
 * pass-through (the floor), Portkey's gateway and nginx, all in one run, interleaved, each proxy pinned to the same
 * dedicated core (the load generator and simulator get the other). Prints a markdown report and writes it to
 * bench/results/overhead.md. Method and findings: bench/NOTES.md.
 *
 *   npm run bench:overhead                  full run (~5.5 min)
 *   npm run bench:overhead -- --quick       smoke run (~1 min)
 *   npm run bench:overhead -- --profile     CPU-profile the floor and infergate under max load (bench/results/profile.md)
 *   npm run bench:overhead -- --profile --alloc   the same with allocation sampling (bench/results/alloc-profile.md)
 *   npm run bench:overhead -- --governance  issue 4's governance cost alone: rows 3 and 4 in fresh processes (bench/results/governance.md)
 *   npm run bench:overhead -- --keys        authenticating with a gateway-managed API key vs a cached JWT (bench/results/keys.md)
 *   npm run bench:overhead -- --split       what each of row 5's features costs on top of row 3, one gateway per feature (bench/results/feature-split.md)
 * Options: --rounds N, --windows N (--governance: windows per round), --rows 1,2,3, --runtime compiled|tsx, --out FILE,
 *          --phases max,fixed,cpu,stream,ttfb,paced (a subset, for quick A/B runs),
 *          --ab DIR (adds rows 3b/4b/5b: rows 3, 4 and 5 run from DIR/src, a patched copy of the tree, to A/B a hot-path fix).
 */
import { cpus } from 'node:os';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { runGovernanceAb } from './bench/governance.js';
import { runKeysBench } from './bench/auth-keys.js';
import { runFeatureSplit } from './bench/feature-split.js';
import { renderAllocations, renderProfile, summariseAllocations, summariseProfile } from './bench/cpuprofile.js';
import { closedLoop, probe } from './bench/loadgen.js';
import {
  CPU_RATE,
  FIXED_RATE,
  FULL,
  QUICK,
  STREAM_FIXED_RATE,
  phaseCpu,
  phaseFixed,
  phaseMax,
  phasePaced,
  phaseStreamMax,
  phaseTtfb,
  type Durations,
  type RoundSample,
} from './bench/measure.js';
import {
  CPU_COUNT,
  DRIVER_CPU,
  HAS_TASKSET,
  PINNED,
  PROXY_CPU,
  installCleanup,
  pinSelf,
  readMemory,
  spawnChild,
  stopAll,
  stopChild,
  waitForLine,
} from './bench/procs.js';
import { renderReport, type RowResult } from './bench/report.js';
import { fullRow, governanceRow, leanRow, ROWS, type RowDef, type RowEnv, type RunningRow, type SimPorts } from './bench/rows.js';
import { prepareAltRuntime, prepareRuntime, type RuntimeKind } from './bench/runtime.js';
import { CHAT_BODY, CHAT_PATH, CHAT_STREAM_BODY, PACED_CHUNKS, PACED_DELAY_MS, PACED_STREAM_BODY } from './bench/workload.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TMP = join(ROOT, 'bench/tmp');
const RESULTS = join(ROOT, 'bench/results');

const { values: opts } = parseArgs({
  options: {
    help: { type: 'boolean', short: 'h', default: false },
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    windows: { type: 'string' },
    rows: { type: 'string' },
    runtime: { type: 'string', default: 'compiled' },
    out: { type: 'string' },
    ab: { type: 'string' },
    alloc: { type: 'boolean', default: false },
    phases: { type: 'string' },
    governance: { type: 'boolean', default: false },
    keys: { type: 'boolean', default: false },
    split: { type: 'boolean', default: false },
  },
});

const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const startedAt = Date.now();

async function startSimulator(env: Omit<RowEnv, 'sim'>): Promise<SimPorts> {
  const child = spawnChild({
    name: 'simulator',
    command: process.execPath,
    args: env.runtime.nodeArgs('scripts/bench/sim-proc.ts'),
    cpu: DRIVER_CPU,
    cwd: ROOT,
    stdinPipe: true,
  });
  const m = await waitForLine(child, /\{"fast":(\d+),"paced":(\d+)\}/);
  return { fast: Number(m[1]), paced: Number(m[2]) };
}

/** One request of each kind through the row; a row that cannot answer them is skipped, not failed. */
async function smokeCheck(row: RunningRow): Promise<{ error: string | null; pacedProblem: string | null }> {
  const plain = await probe(row.fast.origin, CHAT_PATH, CHAT_BODY, row.fast.headers);
  if (plain.status !== 200 || !plain.text.includes('"choices"')) return { error: `non-streaming request answered ${plain.status}: ${plain.text.slice(0, 200)}`, pacedProblem: null };
  const stream = await probe(row.fast.origin, CHAT_PATH, CHAT_STREAM_BODY, row.fast.headers);
  if (stream.status !== 200 || !stream.text.includes('[DONE]')) return { error: `streaming request answered ${stream.status}: ${stream.text.slice(0, 200)}`, pacedProblem: null };
  const t0 = performance.now();
  const paced = await probe(row.paced.origin, CHAT_PATH, PACED_STREAM_BODY, row.paced.headers);
  const took = performance.now() - t0;
  const events = (paced.text.match(/^data: /gm) ?? []).length;
  if (paced.status !== 200 || events < PACED_CHUNKS) return { error: null, pacedProblem: `paced stream answered ${paced.status} with ${events} events` };
  if (took < PACED_CHUNKS * PACED_DELAY_MS * 0.8) return { error: null, pacedProblem: `the pace did not reach the simulator (stream took ${took.toFixed(1)} ms)` };
  return { error: null, pacedProblem: null };
}

interface Live {
  def: RowDef;
  run: RunningRow;
  result: RowResult;
}

async function startRows(env: RowEnv, defs: readonly RowDef[]): Promise<{ live: Live[]; results: RowResult[] }> {
  const live: Live[] = [];
  const results: RowResult[] = [];
  for (const def of defs) {
    const result: RowResult = { id: def.id, key: def.key, label: def.label, skipped: null, features: '', samples: [], memory: null, pacedProblem: null };
    results.push(result);
    try {
      log(`starting row ${def.id}: ${def.label}`);
      const run = await def.start(env);
      const smoke = await smokeCheck(run);
      if (smoke.error) {
        if (run.child) await stopChild(run.child);
        throw new Error(smoke.error);
      }
      result.features = run.features;
      result.pacedProblem = smoke.pacedProblem;
      live.push({ def, run, result });
    } catch (err) {
      const msg = (err instanceof Error ? err.message : String(err)).split('\n').slice(0, 3).join(' ').slice(0, 300);
      if (def.key === 'direct') throw err;
      log(`row ${def.id} skipped: ${msg}`);
      result.skipped = msg;
    }
  }
  return { live, results };
}

/** Rotates the order each round so no row always runs first (warm caches) or last (after the others' load). */
function rotated<T>(xs: readonly T[], by: number): T[] {
  return xs.map((_, i) => xs[(i + by) % xs.length]!);
}

async function runBenchmark(): Promise<void> {
  const durations: Durations = opts.quick ? QUICK : FULL;
  // Five short rounds rather than three long ones: the median of five survives two rounds spoilt by another job.
  const rounds = Number(opts.rounds ?? (opts.quick ? 1 : 5));
  const wanted = opts.rows ? new Set(opts.rows.split(',').map(Number)) : null;
  const runtime = prepareRuntime(ROOT, TMP, opts.runtime as RuntimeKind, log);
  const defs = ROWS.filter((r) => r.key === 'direct' || !wanted || wanted.has(r.id));
  if (opts.ab) {
    // Each selected infergate row gets a twin run from the patched tree, right after it.
    const alt = prepareAltRuntime(ROOT, TMP, resolve(opts.ab), log);
    for (const [id, make] of [
      [3, () => leanRow(3.5, 'infergate-ab', `infergate (auth, limits, usage off) from ${opts.ab}`, alt)],
      [4, () => governanceRow(4.5, 'infergate-gov-ab', `infergate governance from ${opts.ab}`, alt)],
      [5, () => fullRow(5.5, 'infergate-full-ab', `infergate full stack from ${opts.ab}`, alt)],
    ] as const) {
      const at = defs.findIndex((r) => r.id === id);
      if (at >= 0) defs.splice(at + 1, 0, make());
    }
  }
  const envBase = { root: ROOT, tmp: TMP, runtime, log };
  const sim = await startSimulator(envBase);
  log(`simulator: fast :${sim.fast}, paced :${sim.paced}`);
  const env: RowEnv = { ...envBase, sim };
  const { live, results } = await startRows(env, defs);

  log(`warming up ${live.length} rows ...`);
  for (const l of live) {
    await closedLoop(l.run.fast, CHAT_PATH, CHAT_BODY, 64, durations.warmup);
    await closedLoop(l.run.fast, CHAT_PATH, CHAT_STREAM_BODY, 64, durations.warmup / 2);
  }

  const phases = new Set((opts.phases ?? 'max,fixed,cpu,stream,ttfb,paced').split(','));
  const rates = new Map<string, { rate: number; cpuRate: number; streamRate: number }>();
  for (let r = 0; r < rounds; r++) {
    const order = rotated(live, r);
    const samples = new Map<Live, RoundSample>(order.map((l) => [l, {}]));
    log(`round ${r + 1}/${rounds}: max req/s`);
    for (const l of phases.has('max') || phases.has('fixed') || phases.has('cpu') ? order : []) {
      await phaseMax(l.run.fast, l.run.child?.pid ?? null, durations.max, samples.get(l)!);
      const s = samples.get(l)!;
      log(`  row ${l.def.id}: ${Math.round(s.maxRps ?? 0)} req/s, ${s.cpuPerReq?.toFixed(1) ?? '-'} µs/req`);
      await sleep(200);
    }
    if (r === 0) {
      for (const l of live) {
        const max = samples.get(l)!.maxRps ?? 0;
        const half = Math.max(50, Math.floor(max / 2 / 50) * 50);
        rates.set(l.def.key, { rate: Math.min(FIXED_RATE, half), cpuRate: Math.min(CPU_RATE, half), streamRate: 0 });
      }
    }
    log(`round ${r + 1}/${rounds}: latency at a fixed rate`);
    for (const l of phases.has('fixed') ? order : []) {
      await phaseFixed(l.run.fast, rates.get(l.def.key)!.rate, durations.fixed, samples.get(l)!);
      await sleep(200);
    }
    log(`round ${r + 1}/${rounds}: CPU per request at ${CPU_RATE} req/s`);
    for (const l of phases.has('cpu') ? order : []) {
      if (l.run.child) await phaseCpu(l.run.fast, l.run.child.pid, rates.get(l.def.key)!.cpuRate, durations.cpu, samples.get(l)!);
      await sleep(200);
    }
    log(`round ${r + 1}/${rounds}: streaming req/s`);
    for (const l of phases.has('stream') || phases.has('ttfb') ? order : []) {
      await phaseStreamMax(l.run.fast, l.run.child?.pid ?? null, durations.streamMax, samples.get(l)!);
      await sleep(200);
    }
    if (r === 0) {
      for (const l of live) {
        const max = samples.get(l)!.streamRps ?? 0;
        rates.get(l.def.key)!.streamRate = Math.min(STREAM_FIXED_RATE, Math.max(25, Math.floor(max / 2 / 25) * 25));
      }
    }
    log(`round ${r + 1}/${rounds}: streaming time to first byte`);
    for (const l of phases.has('ttfb') ? order : []) {
      await phaseTtfb(l.run.fast, rates.get(l.def.key)!.streamRate, durations.ttfb, samples.get(l)!);
      await sleep(200);
    }
    log(`round ${r + 1}/${rounds}: paced streams (per-chunk delay)`);
    for (const l of phases.has('paced') ? order : []) {
      if (l.result.pacedProblem === null) await phasePaced(l.run.paced, durations.paced, samples.get(l)!);
      await sleep(200);
    }
    for (const l of live) l.result.samples.push(samples.get(l)!);
  }

  for (const l of live) {
    if (l.run.child) l.result.memory = readMemory(l.run.child.pid);
    if (l.run.afterRun) l.result.features = await l.run.afterRun();
  }
  await stopAll();

  const d = durations;
  const report = renderReport(results, {
    date: new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'),
    node: process.version,
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: CPU_COUNT,
    pinning: PINNED
      ? `proxies pinned to core ${PROXY_CPU} (taskset); load generator + simulator on core ${DRIVER_CPU}`
      : `NOT pinned (${HAS_TASKSET ? `only ${CPU_COUNT} core` : 'taskset not found'}): every process shares the cores`,
    runtime: runtime.note,
    rounds,
    durations: `max ${d.max} s, fixed-rate ${d.fixed} s, CPU ${d.cpu} s, stream max ${d.streamMax} s, TTFB ${d.ttfb} s, paced ${d.paced} s (+${d.warmup} s warm-up once)`,
    totalSeconds: (Date.now() - startedAt) / 1000,
    notes: opts.quick ? ['Quick smoke run (`--quick`): one short round; numbers are indicative only.'] : [],
  });
  process.stdout.write(`\n${report}\n`);
  const out = opts.out ? resolve(opts.out) : join(RESULTS, opts.quick ? 'overhead-quick.md' : 'overhead.md');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, report);
  log(`wrote ${out}`);
}

/**
 * --profile: the floor and the infergate rows, each alone with --cpu-prof under closed-loop max load, once for
 * non-streaming and once for streaming requests (separate processes, so each profile is one kind of traffic), then
 * summarised into bench/results/profile.md with CPU time per request, comparable across rows.
 */
async function runProfile(): Promise<void> {
  const seconds = opts.quick ? 4 : 10;
  const alloc = opts.alloc;
  const runtime = prepareRuntime(ROOT, TMP, opts.runtime as RuntimeKind, log);
  const envBase = { root: ROOT, tmp: TMP, runtime, log };
  const sim = await startSimulator(envBase);
  const sampler = runtime.nodeArgs('scripts/bench/alloc-sampler.ts').at(-1)!;
  const sections: string[] = [
    alloc ? '# Allocations under max load (floor and infergate)' : '# CPU profiles under max load (floor and infergate)',
    '',
    `${new Date().toISOString()} · Node ${process.version} · ${cpus()[0]?.model.trim()} · ${runtime.note} · ` +
      `proxy ${PINNED ? `pinned to core ${PROXY_CPU}` : 'not pinned'} · ${seconds} s closed loop, 64 connections, after 2 s of warm-up · ` +
      (alloc ? 'allocation sampling every 1 KiB, dead objects included' : 'sampling every 200 µs') +
      `. Generated by \`npm run bench:overhead -- --profile${alloc ? ' --alloc' : ''}\`; findings in bench/NOTES.md.`,
    '',
  ];
  const wanted = opts.rows ? new Set(opts.rows.split(',').map(Number)) : null;
  for (const key of ['floor', 'infergate', 'infergate-gov', 'infergate-full']) {
    const def = ROWS.find((r) => r.key === key)!;
    if (wanted && !wanted.has(def.id)) continue;
    for (const kind of ['non-streaming', 'streaming'] as const) {
      const body = kind === 'streaming' ? CHAT_STREAM_BODY : CHAT_BODY;
      const dir = join(TMP, alloc ? 'alloc' : 'prof', `${key}-${kind}`);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const allocFile = join(dir, 'allocations.heapprofile');
      const flags = alloc
        ? [...(runtime.kind === 'tsx' ? ['--import', 'tsx'] : []), '--import', pathToFileURL(sampler).href]
        : ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '200'];
      // The sampler reads its output path from the environment, which the children inherit.
      if (alloc) process.env.BENCH_ALLOC_PROFILE = allocFile;
      const env: RowEnv = { ...envBase, sim, gatewayNodeFlags: flags };
      log(`profiling row ${def.id} (${def.label}), ${kind}${alloc ? ', allocations' : ''}`);
      const run = key === 'floor' ? await startProfiledFloor(env, flags) : await def.start(env);
      const warm = await closedLoop(run.fast, CHAT_PATH, body, 64, 2);
      const load = await closedLoop(run.fast, CHAT_PATH, body, 64, seconds);
      const features = run.afterRun ? await run.afterRun() : run.features;
      // The allocation profile is built and written in the exit handler: tens of MB, several seconds on a busy host.
      await stopChild(run.child!, alloc ? 60_000 : 10_000);
      delete process.env.BENCH_ALLOC_PROFILE;
      // The profile spans the process's whole life: the warm-up requests count too.
      const requests = warm.ok + load.ok;
      sections.push(`## Row ${def.id}: ${def.label}, ${kind}`, '', features, '');
      sections.push(`${Math.round(load.rps)} req/s under the profiler (profiling costs throughput).`, '');
      if (alloc) {
        sections.push(renderAllocations(`${def.label}, ${kind} (bench/tmp/alloc/${key}-${kind}/allocations.heapprofile)`, summariseAllocations(allocFile, ROOT), requests, 25));
      } else {
        const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
        if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
        sections.push(renderProfile(`${def.label}, ${kind} (bench/tmp/prof/${key}-${kind}/${file})`, summariseProfile(join(dir, file), ROOT), 30, requests));
      }
    }
  }
  await stopAll();
  const out = opts.out ? resolve(opts.out) : join(RESULTS, alloc ? 'alloc-profile.md' : 'profile.md');
  writeFileSync(out, sections.join('\n'));
  process.stdout.write(`${sections.join('\n')}\n`);
  log(`wrote ${out}`);
}

async function runGovernance(): Promise<void> {
  const runtime = prepareRuntime(ROOT, TMP, opts.runtime as RuntimeKind, log);
  const envBase = { root: ROOT, tmp: TMP, runtime, log };
  const sim = await startSimulator(envBase);
  const lean = ROWS.find((r) => r.key === 'infergate')!;
  const governed = ROWS.find((r) => r.key === 'infergate-gov')!;
  const header =
    `${new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} · Node ${process.version} · ${cpus()[0]?.model.trim()} (${CPU_COUNT} cores) · ` +
    `${PINNED ? `gateway pinned to core ${PROXY_CPU}, load generator and simulator on core ${DRIVER_CPU}` : 'not pinned'} · ${runtime.note} · ` +
    'generated by `npm run bench:overhead -- --governance`';
  const threaded = governanceRow(4.5, 'infergate-gov-thread', 'infergate governance, writer thread forced on', undefined, true);
  const report = await runGovernanceAb(lean, governed, threaded, { ...envBase, sim }, { rounds: Number(opts.rounds ?? (opts.quick ? 1 : 3)), windows: Number(opts.windows ?? (opts.quick ? 3 : 6)), cpuSeconds: 2, maxSeconds: 1.5, log, header });
  await stopAll();
  const out = opts.out ? resolve(opts.out) : join(RESULTS, 'governance.md');
  writeFileSync(out, report);
  process.stdout.write(report);
  log(`wrote ${out}`);
}

/** --split: row 3, row 3 plus each of row 5's features alone, and row 5, in windows; see scripts/bench/feature-split.ts. */
async function runSplit(): Promise<void> {
  const runtime = prepareRuntime(ROOT, TMP, opts.runtime as RuntimeKind, log);
  const envBase = { root: ROOT, tmp: TMP, runtime, log };
  const sim = await startSimulator(envBase);
  const header =
    `${new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} · Node ${process.version} · ${cpus()[0]?.model.trim()} (${CPU_COUNT} cores) · ` +
    `${PINNED ? `gateways pinned to core ${PROXY_CPU}, load generator and simulator on core ${DRIVER_CPU}` : 'not pinned'} · ${runtime.note} · ` +
    'generated by `npm run bench:overhead -- --split`';
  const report = await runFeatureSplit({ ...envBase, sim }, { rounds: Number(opts.rounds ?? (opts.quick ? 1 : 2)), windows: Number(opts.windows ?? (opts.quick ? 2 : 4)), cpuSeconds: 2, maxSeconds: 1.5, log, header });
  await stopAll();
  const out = opts.out ? resolve(opts.out) : join(RESULTS, 'feature-split.md');
  writeFileSync(out, report);
  process.stdout.write(report);
  log(`wrote ${out}`);
}

/** --keys: one in-process row per credential kind, on this (driver) core; see scripts/bench/auth-keys.ts. */
async function runKeys(): Promise<void> {
  const header =
    `${new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} · Node ${process.version} · ${cpus()[0]?.model.trim()} (${CPU_COUNT} cores) · ` +
    'generated by `npm run bench:overhead -- --keys`';
  const report = await runKeysBench({ rounds: Number(opts.rounds ?? (opts.quick ? 5 : 15)), quick: opts.quick, header });
  const out = opts.out ? resolve(opts.out) : join(RESULTS, 'keys.md');
  writeFileSync(out, report);
  process.stdout.write(report);
  log(`wrote ${out}`);
}

async function startProfiledFloor(env: RowEnv, flags: string[]): Promise<RunningRow> {
  const profiled: RowEnv = { ...env, runtime: { ...env.runtime, nodeArgs: (f) => [...flags, ...env.runtime.nodeArgs(f)] } };
  return ROWS.find((r) => r.key === 'floor')!.start(profiled);
}

if (opts.help) {
  // The usage is this file's header comment.
  const { readFileSync } = await import('node:fs');
  const header = /\/\*\*([\s\S]*?)\*\//.exec(readFileSync(fileURLToPath(import.meta.url), 'utf8'))?.[1] ?? '';
  process.stdout.write(`${header.replace(/^ \* ?/gm, '').trim()}\n`);
  process.exit(0);
}
installCleanup();
if (pinSelf()) log(`pinned the driver (this process) to core ${DRIVER_CPU}; proxies go to core ${PROXY_CPU}`);
else log(PINNED ? 'could not pin the driver process' : 'taskset or a second core is missing: nothing is pinned');
mkdirSync(TMP, { recursive: true });
(opts.keys ? runKeys() : opts.split ? runSplit() : opts.profile ? runProfile() : opts.governance ? runGovernance() : runBenchmark())
  .then(() => process.exit(0))
  .catch(async (err: unknown) => {
    process.stderr.write(`bench-overhead: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    await stopAll();
    process.exit(1);
  });
