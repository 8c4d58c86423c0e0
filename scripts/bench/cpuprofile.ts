/**
 * A small summariser for V8 `.cpuprofile` files (node --cpu-prof): self time by function and by package/module,
 * and inclusive time of infergate's own functions. Compiled JS positions are mapped back to the TypeScript sources
 * through tsc's source maps, so every frame of ours is reported as src/<file>.ts:<line>.
 * Usage as a CLI: tsx scripts/bench/cpuprofile.ts FILE.cpuprofile [--top N]
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface FrameStat {
  name: string;
  location: string;
  category: string;
  selfMs: number;
  totalMs: number;
}

export interface ProfileSummary {
  durationMs: number;
  sampledMs: number;
  idleMs: number;
  frames: FrameStat[];
  categories: { category: string; selfMs: number }[];
}

const maps = new Map<string, SourceMap | null>();

function sourceMapFor(file: string): SourceMap | null {
  if (!maps.has(file)) {
    let sm: SourceMap | null = null;
    const mapFile = `${file}.map`;
    if (existsSync(mapFile)) {
      try {
        sm = new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8')));
      } catch {
        sm = null;
      }
    }
    maps.set(file, sm);
  }
  return maps.get(file)!;
}

/** `src/api/pipeline.ts:123` for our compiled code, `undici/lib/...:45` for packages, `node:internal/...` for Node. */
function locate(cf: CallFrame, root: string): { location: string; category: string } {
  const url = cf.url;
  const line = cf.lineNumber + 1;
  if (!url) return { location: '', category: cf.functionName.startsWith('(') ? cf.functionName : '(native)' };
  if (url.startsWith('node:')) {
    const mod = url.slice(5).replace(/^internal\//, 'internal/');
    const top = mod.startsWith('internal/') ? mod.split('/').slice(0, 2).join('/') : mod.split('/')[0]!;
    return { location: `${url}:${line}`, category: `node:${top}` };
  }
  let file = url;
  if (url.startsWith('file://')) file = fileURLToPath(url);
  const nm = file.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = file.slice(nm + '/node_modules/'.length);
    const parts = rest.split('/');
    const pkg = parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
    return { location: `${rest}:${line}`, category: pkg };
  }
  let rel = relative(root, file);
  let outLine = line;
  const sm = file.endsWith('.js') ? sourceMapFor(file) : null;
  if (sm) {
    const e = sm.findEntry(cf.lineNumber, cf.columnNumber) as { originalSource?: string; originalLine?: number };
    if (e.originalSource) {
      const src = e.originalSource.startsWith('file://') ? fileURLToPath(e.originalSource) : resolve(dirname(file), e.originalSource);
      rel = relative(root, src);
      outLine = (e.originalLine ?? 0) + 1;
    }
  }
  const m = /^src\/([^/]+)\//.exec(rel) ?? /^src\/([^/.]+)\.ts$/.exec(rel);
  const category = m ? `infergate ${m[1]}/` : rel.startsWith('scripts/') ? 'bench scripts' : rel;
  return { location: `${rel}:${outLine}`, category };
}

export function summariseProfile(file: string, root: string): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const keyOf = new Map<number, string>();
  const frames = new Map<string, FrameStat>();
  const frameOf = (id: number): FrameStat => {
    let key = keyOf.get(id);
    const n = byId.get(id)!;
    if (key === undefined) {
      const { location, category } = locate(n.callFrame, root);
      key = `${n.callFrame.functionName}@${location}`;
      keyOf.set(id, key);
      if (!frames.has(key)) frames.set(key, { name: n.callFrame.functionName || '(anonymous)', location, category, selfMs: 0, totalMs: 0 });
    }
    return frames.get(key)!;
  };

  let sampledMs = 0;
  let idleMs = 0;
  const n = p.samples.length;
  for (let i = 0; i < n; i++) {
    // timeDeltas[i] is the time since the previous sample; the time up to the next one belongs to this sample.
    const dt = (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0) / 1000;
    const id = p.samples[i]!;
    const f = frameOf(id);
    sampledMs += dt;
    if (f.name === '(idle)') idleMs += dt;
    f.selfMs += dt;
    // Inclusive time: every distinct frame on the stack once (recursion is not double counted).
    const seen = new Set<FrameStat>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const g = frameOf(cur);
      if (!seen.has(g)) {
        seen.add(g);
        g.totalMs += dt;
      }
    }
  }
  const cats = new Map<string, number>();
  for (const f of frames.values()) cats.set(f.category, (cats.get(f.category) ?? 0) + f.selfMs);
  return {
    durationMs: (p.endTime - p.startTime) / 1000,
    sampledMs,
    idleMs,
    frames: [...frames.values()],
    categories: [...cats.entries()].map(([category, selfMs]) => ({ category, selfMs })).sort((a, b) => b.selfMs - a.selfMs),
  };
}

interface HeapNode {
  id: number;
  callFrame: CallFrame;
  selfSize: number;
  children?: HeapNode[];
}

export interface AllocSite {
  name: string;
  location: string;
  category: string;
  bytes: number;
}

/**
 * Allocation sites from a sampling heap profile (alloc-sampler.ts): bytes allocated per function, dead objects
 * included. Sampled sizes are scaled estimates of what was allocated.
 */
export function summariseAllocations(file: string, root: string): { totalBytes: number; sites: AllocSite[]; categories: { category: string; bytes: number }[] } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as { head: HeapNode };
  const sites = new Map<string, AllocSite>();
  let totalBytes = 0;
  const walk = (n: HeapNode) => {
    if (n.selfSize > 0) {
      const { location, category } = locate(n.callFrame, root);
      const key = `${n.callFrame.functionName}@${location}`;
      const s = sites.get(key) ?? { name: n.callFrame.functionName || '(anonymous)', location, category, bytes: 0 };
      s.bytes += n.selfSize;
      sites.set(key, s);
      totalBytes += n.selfSize;
    }
    for (const c of n.children ?? []) walk(c);
  };
  walk(p.head);
  const cats = new Map<string, number>();
  for (const s of sites.values()) cats.set(s.category, (cats.get(s.category) ?? 0) + s.bytes);
  return {
    totalBytes,
    sites: [...sites.values()].sort((a, b) => b.bytes - a.bytes),
    categories: [...cats.entries()].map(([category, bytes]) => ({ category, bytes })).sort((a, b) => b.bytes - a.bytes),
  };
}

export function renderAllocations(title: string, a: ReturnType<typeof summariseAllocations>, requests: number, top = 25): string {
  const per = (b: number) => (requests > 0 ? `${Math.round(b / requests)} B` : '–');
  const out = [`### ${title}`, '', `${(a.totalBytes / 1e6).toFixed(0)} MB allocated over ${requests} requests: ${per(a.totalBytes)} per request.`, ''];
  out.push('By package / module:', '', '| where | per request | share |', '|---|---:|---:|');
  for (const c of a.categories.slice(0, 14)) out.push(`| ${c.category} | ${per(c.bytes)} | ${pct(c.bytes, a.totalBytes)} |`);
  out.push('', `Top ${top} allocation sites:`, '', '| function | where | per request | share |', '|---|---|---:|---:|');
  for (const s of a.sites.slice(0, top)) out.push(`| ${s.name.replace(/\|/g, '\\|')} | ${s.location || s.category} | ${per(s.bytes)} | ${pct(s.bytes, a.totalBytes)} |`);
  out.push('');
  return out.join('\n');
}

const pct = (v: number, of: number) => `${((v / of) * 100).toFixed(1)}%`;

/**
 * Markdown for one profile. With `requests` (how many were served while profiling), every time is also given as CPU
 * microseconds per request, which compares across rows whatever their throughput under the profiler.
 */
export function renderProfile(title: string, s: ProfileSummary, top = 30, requests = 0): string {
  const busy = s.sampledMs - s.idleMs;
  const per = (v: number) => (requests > 0 ? `${((v * 1000) / requests).toFixed(1)} µs` : '–');
  const out: string[] = [`### ${title}`, ''];
  out.push(
    `Profile ${(s.durationMs / 1000).toFixed(1)} s; busy ${(busy / 1000).toFixed(2)} s (${pct(busy, s.sampledMs)} of samples; shares below are of busy time)` +
      `${requests > 0 ? `; ${requests} requests, ${per(busy)} of CPU per request` : ''}.`,
    '',
  );
  out.push('Self time by package / module:', '', '| where | self | share | per request |', '|---|---:|---:|---:|');
  for (const c of s.categories.filter((c) => c.category !== '(idle)').slice(0, 16)) {
    out.push(`| ${c.category} | ${c.selfMs.toFixed(0)} ms | ${pct(c.selfMs, busy)} | ${per(c.selfMs)} |`);
  }
  out.push('', `Top ${top} functions by self time:`, '', '| function | where | self | share | per request | total (incl. callees) |', '|---|---|---:|---:|---:|---:|');
  const frames = s.frames.filter((f) => f.name !== '(idle)').sort((a, b) => b.selfMs - a.selfMs);
  for (const f of frames.slice(0, top)) {
    out.push(`| ${f.name.replace(/\|/g, '\\|')} | ${f.location || f.category} | ${f.selfMs.toFixed(0)} ms | ${pct(f.selfMs, busy)} | ${per(f.selfMs)} | ${pct(f.totalMs, busy)} |`);
  }
  const ours = s.frames.filter((f) => f.category.startsWith('infergate ')).sort((a, b) => b.totalMs - a.totalMs);
  if (ours.length) {
    out.push('', 'infergate functions by inclusive time (self + callees):', '', '| function | where | total | per request | self |', '|---|---|---:|---:|---:|');
    for (const f of ours.slice(0, 25)) out.push(`| ${f.name} | ${f.location} | ${pct(f.totalMs, busy)} | ${per(f.totalMs)} | ${pct(f.selfMs, busy)} |`);
  }
  out.push('');
  return out.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: tsx scripts/bench/cpuprofile.ts FILE.cpuprofile [--top N]\n');
    process.exit(2);
  }
  const ti = process.argv.indexOf('--top');
  const top = ti > 0 ? Number(process.argv[ti + 1]) : 30;
  process.stdout.write(renderProfile(file, summariseProfile(file, process.cwd()), top));
}
