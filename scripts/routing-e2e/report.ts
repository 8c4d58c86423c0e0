/** Console table and bench/results/routing-e2e.md for the end-to-end routing benchmark. */
import type { PolicyName } from '../../src/routing/types.js';
import type { RunSummary } from './des-ref.js';
import type { E2eSummary } from './summary.js';
import type { SharedPrefixSpec } from './workload.js';

/** What the report needs of a workload (serialisable, so a run can be re-rendered from its JSON). */
export interface WorkloadInfo {
  readonly spec: SharedPrefixSpec;
}

export interface PolicyResult {
  readonly policy: PolicyName;
  /** The real-time run shown (with --repeat, the one with the median p99 TTFT), and every run of the policy. */
  readonly e2e: E2eSummary;
  readonly e2eRuns: readonly E2eSummary[];
  readonly des: RunSummary;
  /** Discrete-event runs of the same workload and load on seeds SEED..SEED+n-1 (the first is `des`). */
  readonly desSeeds: readonly { ttftP99: number; hitRate: number }[];
}

export interface ReportInput {
  readonly quick: boolean;
  readonly timeScale: number;
  readonly replicas: number;
  readonly kvBlocks: number;
  readonly scrapeRealMs: number;
  /** The gateway took a `routing:` section with periods scaled by the time scale. */
  readonly scrapeScaled: boolean;
  readonly runtime: string;
  readonly desSaturation: number;
  readonly saturation: number;
  readonly saturationSource: 'given' | 'ladder' | 'des';
  readonly load: number;
  readonly qps: number;
  readonly ladder: { rows: { qps: number; summary: E2eSummary }[]; wallMs: number } | null;
  readonly results: readonly { w: WorkloadInfo; rows: readonly PolicyResult[]; qps: number }[];
  readonly wallS: number;
  readonly machine: string;
  /** Runs repeated because their simulators lagged more than maxSlowdown. */
  readonly discarded: readonly { workload: string; policy: PolicyName; summary: E2eSummary }[];
  readonly maxSlowdown: number;
  readonly sessionHints: boolean;
  readonly desSeeds: number;
  readonly repeat: number;
  /** The command-line arguments of the run. */
  readonly command: string;
}

const CACHE_AWARE: readonly PolicyName[] = ['epp_default', 'sglang_cache_aware', 'token_aware', 'lmetric', 'sticky_until_saturated'];
const LOAD_ONLY: readonly PolicyName[] = ['round_robin', 'random', 'least_requests', 'power_of_two'];

const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '∞');
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '∞');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '∞');
const pct = (x: number) => (x * 100).toFixed(1);

function rrOf(rows: readonly PolicyResult[]): PolicyResult | undefined {
  return rows.find((r) => r.policy === 'round_robin');
}

/**
 * Fraction of policy pairs that the two runs order the same way by p99 TTFT. A pair within 10% or one 10 ms engine
 * step of each other in both runs counts as agreeing (a tie: tails that close are one engine step apart).
 */
export function pairAgreement(rows: readonly PolicyResult[]): { agree: number; pairs: number; disagreements: string[] } {
  let agree = 0;
  let pairs = 0;
  const disagreements: string[] = [];
  for (let i = 0; i < rows.length; i++) {
    for (let j = i + 1; j < rows.length; j++) {
      const a = rows[i] as PolicyResult;
      const b = rows[j] as PolicyResult;
      pairs++;
      const e = Math.sign(a.e2e.ttftP99 - b.e2e.ttftP99);
      const d = Math.sign(a.des.ttftP99 - b.des.ttftP99);
      const close = (x: number, y: number) => Math.max(x, y) <= Math.max(1.1 * Math.min(x, y), Math.min(x, y) + 10);
      if (e === d || (close(a.e2e.ttftP99, b.e2e.ttftP99) && close(a.des.ttftP99, b.des.ttftP99))) agree++;
      else disagreements.push(`${a.policy} vs ${b.policy} (e2e ${f0(a.e2e.ttftP99)}/${f0(b.e2e.ttftP99)} ms, des ${f0(a.des.ttftP99)}/${f0(b.des.ttftP99)} ms)`);
    }
  }
  return { agree, pairs, disagreements };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.floor((s.length - 1) / 2)] as number) : Number.NaN;
}

function spreadText(xs: readonly number[], f: (x: number) => string): string {
  return `${f(median(xs))} [${f(Math.min(...xs))}–${f(Math.max(...xs))}]`;
}

function tableLines(rows: readonly PolicyResult[]): string[] {
  const rr = rrOf(rows);
  const many = rows.some((r) => r.e2eRuns.length > 1);
  const perRun = many ? ' p99 of each run (ms) | hit % of each run |' : '';
  const lines = [
    `| policy | TTFT p50 ms | TTFT p99 ms |${perRun} E2E p99 s | out tok/s | hit % | errors | ×RR p99 | DES TTFT p50 | DES TTFT p99 | DES E2E p99 s | DES hit % | DES ×RR p99 | DES TTFT p99 over seeds: median [min–max] | DES hit % over seeds [min–max] | sim slowdown % | sim late p99 ms (real) |`,
    `|---|---:|---:|${many ? '---|---|' : ''}---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
  ];
  for (const r of rows) {
    const x = rr ? rr.e2e.ttftP99 / r.e2e.ttftP99 : Number.NaN;
    const xd = rr ? rr.des.ttftP99 / r.des.ttftP99 : Number.NaN;
    const name = r.policy === 'token_aware' ? `**${r.policy}**` : r.policy;
    lines.push(
      `| ${name} | ${f0(r.e2e.ttftP50)} | ${f0(r.e2e.ttftP99)} |${many ? ` ${r.e2eRuns.map((x) => f0(x.ttftP99)).join(', ')} | ${r.e2eRuns.map((x) => pct(x.hitRate)).join(', ')} |` : ''} ${f1(r.e2e.e2eP99 / 1000)} | ${f0(r.e2e.outputTps)} | ${pct(r.e2e.hitRate)} | ${r.e2e.errors} | ${f2(x)} | ${f0(r.des.ttftP50)} | ${f0(r.des.ttftP99)} | ${f1(r.des.e2eP99 / 1000)} | ${pct(r.des.hitRate)} | ${f2(xd)} | ${spreadText(r.desSeeds.map((x) => x.ttftP99), f0)} | ${f1(Math.min(...r.desSeeds.map((x) => x.hitRate)) * 100)}–${f1(Math.max(...r.desSeeds.map((x) => x.hitRate)) * 100)} | ${f1(r.e2e.simSlowdown * 100)} | ${f1(r.e2e.simLateP99RealMs)} |`,
    );
  }
  return lines;
}

export function printTable(w: WorkloadInfo, rows: readonly PolicyResult[]): void {
  const rr = rrOf(rows);
  process.stdout.write(`\n${w.spec.title}\n`);
  process.stdout.write(
    `${'policy'.padEnd(22)}${'TTFT p50'.padStart(9)}${'p99'.padStart(8)}${'E2E p99'.padStart(9)}${'tok/s'.padStart(8)}${'hit%'.padStart(7)}${'err'.padStart(5)}${'×RR'.padStart(7)} | ${'DES p50'.padStart(8)}${'p99'.padStart(7)}${'hit%'.padStart(7)}${'×RR'.padStart(7)} | ${'slow%'.padStart(6)}\n`,
  );
  for (const r of rows) {
    const x = rr ? rr.e2e.ttftP99 / r.e2e.ttftP99 : Number.NaN;
    const xd = rr ? rr.des.ttftP99 / r.des.ttftP99 : Number.NaN;
    process.stdout.write(
      `${r.policy.padEnd(22)}${f0(r.e2e.ttftP50).padStart(9)}${f0(r.e2e.ttftP99).padStart(8)}${f1(r.e2e.e2eP99 / 1000).padStart(9)}${f0(r.e2e.outputTps).padStart(8)}${pct(r.e2e.hitRate).padStart(7)}${String(r.e2e.errors).padStart(5)}${f2(x).padStart(7)} | ${f0(r.des.ttftP50).padStart(8)}${f0(r.des.ttftP99).padStart(7)}${pct(r.des.hitRate).padStart(7)}${f2(xd).padStart(7)} | ${f1(r.e2e.simSlowdown * 100).padStart(6)}\n`,
    );
  }
}

type P99 = (r: PolicyResult) => number;
const E2E_P99: P99 = (r) => r.e2e.ttftP99;
const DES_MEDIAN_P99: P99 = (r) => median(r.desSeeds.map((x) => x.ttftP99));

interface Claim {
  readonly claim: string;
  test(rows: readonly PolicyResult[], p99: P99): { ok: boolean; detail: string } | null;
}

/** The claims of bench/results/routing.md's shared-prefix rows (b2b-saas), checkable on one set of rows. */
const CLAIMS: readonly Claim[] = [
  {
    claim: 'every cache-aware policy has a lower p99 TTFT than every load-only one',
    test(rows, p99) {
      const cache = rows.filter((r) => CACHE_AWARE.includes(r.policy));
      const loadOnly = rows.filter((r) => LOAD_ONLY.includes(r.policy));
      if (!cache.length || !loadOnly.length) return null;
      const worst = Math.max(...cache.map(p99));
      const best = Math.min(...loadOnly.map(p99));
      return { ok: worst < best, detail: `worst cache-aware ${f0(worst)} ms vs best load-only ${f0(best)} ms` };
    },
  },
  {
    claim: 'token_aware ≥ 2× lower p99 TTFT than round_robin (routing.md b2b-saas: 2.46×)',
    test(rows, p99) {
      const rr = rrOf(rows);
      const ta = rows.find((r) => r.policy === 'token_aware');
      if (!rr || !ta) return null;
      const x = p99(rr) / p99(ta);
      return { ok: x >= 2, detail: `${f2(x)}×` };
    },
  },
  {
    claim: 'token_aware within 5% (or one 10 ms engine step) of the best cache-aware baseline on p99 TTFT, or better',
    test(rows, p99) {
      const ta = rows.find((r) => r.policy === 'token_aware');
      const others = rows.filter((r) => CACHE_AWARE.includes(r.policy) && r.policy !== 'token_aware');
      if (!ta || !others.length) return null;
      const best = Math.min(...others.map(p99));
      return { ok: p99(ta) <= Math.max(1.05 * best, best + 10), detail: `${f0(p99(ta))} vs ${f0(best)} ms` };
    },
  },
  {
    claim: 'least_requests no better than round_robin on p99 TTFT (routing.md b2b-saas: 398 vs 181 ms)',
    test(rows, p99) {
      const rr = rrOf(rows);
      const lr = rows.find((r) => r.policy === 'least_requests');
      if (!rr || !lr) return null;
      return { ok: p99(lr) >= 0.95 * p99(rr), detail: `${f0(p99(lr))} vs ${f0(p99(rr))} ms` };
    },
  },
];

function othersOf(r: ReportInput): number[] {
  return r.results.flatMap((x) => x.rows.map((y) => y.e2e.cpuOthers)).filter((x): x is number => x !== null);
}

function othersText(r: ReportInput): string {
  const o = othersOf(r);
  if (!o.length) return 'an unknown share';
  const mean = o.reduce((a, b) => a + b, 0) / o.length;
  return `${f0(mean * 100)}% (${f0(Math.min(...o) * 100)}–${f0(Math.max(...o) * 100)}% per run)`;
}

function caveats(r: ReportInput): string[] {
  const all = r.results.flatMap((x) => x.rows);
  const slow = all.map((x) => x.e2e.simSlowdown * 100);
  const s = r.results[0]?.w.spec;
  return [
    '## Caveats',
    '',
    `- **Real-time lag.** The simulators ran ${f1(Math.min(...slow))}–${f1(Math.max(...slow))}% slower than the cost model across runs (timer lateness; the machine has 2 cores shared with other jobs, which used ${othersText(r)} of a core while the runs played). ${
      r.discarded.length
        ? `${r.discarded.length} run(s) lagged more than ${f0(r.maxSlowdown * 100)}% and were run again (the table shows the second run): ${r.discarded.map((d) => `${d.workload}/${d.policy} (sims ${f1(d.summary.simSlowdown * 100)}% slow, others ${d.summary.cpuOthers === null ? '?' : f0(d.summary.cpuOthers * 100)}% of a core; TTFT p50/p99 ${f0(d.summary.ttftP50)}/${f0(d.summary.ttftP99)} ms, hit ${pct(d.summary.hitRate)}%)`).join('; ')}.`
        : `No run lagged more than ${f0(r.maxSlowdown * 100)}% (the threshold above which a run is repeated once).`
    } A slower fleet is a more loaded fleet: at 80% of round-robin's saturation a few percent more load moves the tail a lot (the round-robin p99 sits near a cliff), so the load-only rows are the most sensitive to lag, and a row whose slowdown is well above the others' should be read with that in mind.`,
    `- **${r.repeat > 1 ? `${r.repeat} runs per policy` : 'One run per policy'}.** ${
      r.repeat > 1
        ? `Each policy ran ${r.repeat} times (interleaved, the order reversed on every other pass); the row shows the run with the median p99 TTFT and lists every run's p99 and hit rate. `
        : ''
    }The gateway breaks ties with an unseeded random generator and real timing differs from run to run, so unlike the discrete-event run the real-time run is not reproducible to the request; which replica first gets a cold prefix decides the partition, and b2b-saas-like workloads are bimodal (a partition forms, or prefixes churn; routing-research.md §5.5, §8). The "over seeds" columns show how far one discrete-event run of this very workload moves with the seed: compare the real-time rows with that range rather than with the single seed-1 value.`,
    s
      ? `- **Scaled workload.** ${s.outputTokens} output tokens instead of 1000, ${r.replicas} replicas with ${r.kvBlocks} KV blocks each, ${s.groups}×${s.perGroup} prompts (routing.md: 8 replicas × 29,205 blocks, 228×5, 1000 out), so that the load generator, the gateway and 4 simulators can stream it in real time on 2 cores. The prompt set is cycled (inference-perf's convention, as in routing.md), so in the measured window whole prompts repeat and a cache-aware router hits on the question too: hit rates near 100% and larger gains over round-robin than routing.md's b2b-saas row (89% hits, 2.46×). The ordering, not the ratio, is what carries over.`
      : '',
    '- **What the gateway sees that the discrete-event core does not**: prompt tokens are estimated from a chars-per-token ratio learned online from the backends\' `usage` (the model name has no tiktoken encoding), not given exactly; scrapes arrive over HTTP at their own phase; time-to-first-token at the client includes the gateway and loopback (about 1–3 ms real, divided by the time scale).',
    '',
  ].filter((l) => l !== '' || true);
}

/** The control's claim (routing.md sharegpt row: token_aware 0.99× the best baseline, load-only policies alike). */
const CONTROL_CLAIMS: readonly Claim[] = [
  {
    claim: 'no sharing: token_aware within 5% (or one 10 ms engine step) of the best load-only policy on p99 TTFT, or better',
    test(rows, p99) {
      const ta = rows.find((r) => r.policy === 'token_aware');
      const loadOnly = rows.filter((r) => LOAD_ONLY.includes(r.policy));
      if (!ta || !loadOnly.length) return null;
      const best = Math.min(...loadOnly.map(p99));
      return { ok: p99(ta) <= Math.max(1.05 * best, best + 10), detail: `${f0(p99(ta))} vs ${f0(best)} ms` };
    },
  },
];

function claimResults(rows: readonly PolicyResult[], shared: boolean): { claim: string; e2e: { ok: boolean; detail: string }; des: { ok: boolean; detail: string } }[] {
  const out: { claim: string; e2e: { ok: boolean; detail: string }; des: { ok: boolean; detail: string } }[] = [];
  for (const c of shared ? CLAIMS : CONTROL_CLAIMS) {
    const e = c.test(rows, E2E_P99);
    const d = c.test(rows, DES_MEDIAN_P99);
    if (e && d) out.push({ claim: c.claim, e2e: e, des: d });
  }
  return out;
}

function summaryLines(r: ReportInput): string[] {
  const L = ['## Summary', ''];
  for (const res of r.results) {
    const rr = rrOf(res.rows);
    const ratios = res.rows
      .filter((x) => x.policy !== 'round_robin')
      .map((x) => `${x.policy} ${rr ? f2(rr.e2e.ttftP99 / x.e2e.ttftP99) : '?'}× (des median ${rr ? f2(DES_MEDIAN_P99(rr) / DES_MEDIAN_P99(x)) : '?'}×)`);
    const claims = claimResults(res.rows, res.w.spec.shared);
    const okE = claims.filter((c) => c.e2e.ok).length;
    const okD = claims.filter((c) => c.des.ok).length;
    const errors = res.rows.reduce((a, x) => a + x.e2e.errors, 0);
    L.push(
      `- **${res.w.spec.name}** at ${f2(res.qps)} QPS: round_robin's p99 TTFT ${rr ? f0(rr.e2e.ttftP99) : '?'} ms; round_robin's p99 ÷ each policy's (higher is better): ${ratios.join(', ')}. ` +
        `Ordering claims of bench/results/routing.md met: ${okE}/${claims.length} in real time, ${okD}/${claims.length} in the discrete-event median. ${errors} request errors.`,
    );
  }
  const slow = r.results.flatMap((x) => x.rows.map((y) => y.e2e.simSlowdown * 100));
  L.push(`- Real-time lag: the simulators ran ${f1(Math.min(...slow))}–${f1(Math.max(...slow))}% slower than the cost model (details per run below).`);
  L.push('');
  return L;
}

export function renderReport(r: ReportInput): string {
  const L: string[] = [];
  const shared = r.results[0];
  L.push('# Routing benchmark, real time end to end (gateway process + 4 simulated vLLM backends)');
  L.push('');
  L.push(
    `Generated by \`npm run bench:routing:e2e${r.command ? ` -- ${r.command}` : ''}\` in ${r.wallS.toFixed(0)} s. Machine: ${r.machine}. ` +
      `Other jobs on the machine used ${othersText(r)} of a core on average while the runs played (/proc/stat busy time minus the CPU time of this benchmark's processes, so kernel time not charged to a process, e.g. some of the loopback traffic, counts here too).`,
  );
  L.push('');
  L.push(`Run: \`npm run bench:routing:e2e\` (≈3.5 min: 5 policies + a 3-policy no-sharing control), \`-- --quick\` (≈70 s: round_robin, epp_default, token_aware, shorter window). Code: \`scripts/bench-routing-e2e.ts\`, \`scripts/routing-e2e/\`.`);
  L.push('');
  L.push(...summaryLines(r));
  L.push('## Method');
  L.push('');
  L.push(
    `- **Processes**: ${r.replicas} simulator processes (\`scripts/routing-e2e/sim-proc.ts\`: the vLLM-faithful engine of \`src/sim/engine/vllm.ts\` with the 8B/H100 cost model and vLLM V1 scheduler, ${r.kvBlocks} KV blocks of 16 tokens each = ${((r.kvBlocks * 16) / 1000).toFixed(0)}k tokens, a quarter of an H100's 29,205 blocks, prefix caching on, vLLM \`/metrics\`), the gateway (\`src/main.ts\`, \`auth: none\`, one model whose \`policy:\` is the row's) and the load generator (this script), each its own Node process, ${r.runtime === 'compiled' ? 'compiled once with the project\'s tsc and run with plain `node`' : 'run through tsx'}. All of them are restarted for every policy, so each policy starts with cold caches and zeroed counters.`,
  );
  L.push(
    `- **Time scale ${r.timeScale}**: simulated ms × ${r.timeScale} = real ms (the simulator's real-time scheduler), so the fleet runs ${f1(1 / r.timeScale)}× faster than real time; client-side times are divided by ${r.timeScale} to report simulated ms. The gateway's routing logic does not know about the scale: it sees backends ${f1(1 / r.timeScale)}× faster than an H100 (token_aware learns each backend's speed from observed TTFTs). ` +
      (r.scrapeScaled
        ? `Its \`routing:\` section is scaled so that in simulated time it behaves as in bench/results/routing.md: \`/metrics\` scraped every ${f0(Math.round(250 * r.timeScale))} ms real ≈ 250 ms simulated (${f0(Math.round(50 * r.timeScale))} ms real ≈ 50 ms simulated for epp_default), \`/health\` probes every ${f1(5 * r.timeScale)} s real, queue max wait ${f1(30 * r.timeScale)} s real; the discrete-event reference uses the same periods.`
        : `This gateway build has no \`routing:\` config section, so it scrapes \`/metrics\` every ${r.scrapeRealMs} ms real = ${f0(r.scrapeRealMs / r.timeScale)} ms simulated whatever the scale (bench/results/routing.md used 250 ms, 50 ms for epp_default); the discrete-event reference below uses the same ${f0(r.scrapeRealMs / r.timeScale)} ms period to compare like with like.`),
  );
  if (shared) {
    const s = shared.w.spec;
    L.push(
      `- **Workload** ${s.name}: ${s.groups} groups × ${s.perGroup} prompts, each a ${s.systemTokens}-token shared system prompt + a ${s.questionTokens}-token unique question, ${s.outputTokens} output tokens (\`max_tokens\` + \`ignore_eos\`, exact), streamed \`/v1/completions\` with \`stream_options.include_usage\`. It is the b2b-saas shape of bench/results/routing.md scaled to 4 replicas with a quarter of the KV each: the resident prefix set (${s.groups} × (${s.systemTokens} + ${s.perGroup}×${s.questionTokens}) = ${f0((s.groups * (s.systemTokens + s.perGroup * s.questionTokens)) / 1000)}k tokens) is ${f0(((s.groups * (s.systemTokens + s.perGroup * s.questionTokens)) / (r.replicas * r.kvBlocks * 16)) * 100)}% of the fleet's KV and more than one replica holds, as there; prompts and outputs are halved/quartered so that the 2-core machine can stream it in real time. Prompts are text whose every word is exactly one token of the simulator's tokenizer. The prompt set is shuffled once and cycled; the first pass over it is the warm-up (not measured), then ${f0(s.measureMs / 1000)} s (simulated) of measured Poisson arrivals, drained to the end. ${r.sessionHints ? 'Each request carries `user` = its prompt\'s key, as the discrete-event runner gives the router a session key.' : 'No session hints are sent.'}`,
    );
  }
  L.push(
    `- **Load**: 80% of round-robin's saturation (highest QPS whose TTFT p99 ≤ 2 s). The discrete-event run of the same requests puts it at ${f1(r.desSaturation)} QPS.` +
      (r.ladder
        ? ` The real-time round-robin ladder (one run: warm-up pass, then ${r.ladder.rows.length} stages) gave:`
        : r.saturationSource === 'given'
          ? ' The load was given on the command line.'
          : ' This run takes that value; the round_robin row below, run in real time at 80% of it, shows whether it holds (`--ladder` also measures the saturation in real time).'),
  );
  if (r.ladder) {
    L.push('');
    L.push('  | RR stage QPS | TTFT p50 ms | TTFT p99 ms | E2E p99 s | out tok/s | hit % | errors | sim slowdown % |');
    L.push('  |---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const row of r.ladder.rows) {
      const s = row.summary;
      L.push(`  | ${f1(row.qps)} | ${f0(s.ttftP50)} | ${f0(s.ttftP99)} | ${f1(s.e2eP99 / 1000)} | ${f0(s.outputTps)} | ${pct(s.hitRate)} | ${s.errors} | ${f1(s.simSlowdown * 100)} |`);
    }
    L.push('');
    L.push(`  Saturation used: **${f1(r.saturation)} QPS** (${r.saturationSource === 'ladder' ? 'highest stage within the SLO' : 'discrete-event value'}).`);
  }
  L.push(`- **Offered load**: ${f2(r.qps)} QPS simulated = ${f1(r.qps / r.timeScale)} requests/s real, the same seeded arrival times and prompts for every policy and for the discrete-event reference (one seed).`);
  L.push(
    '- **Metrics**: TTFT = first streamed token at the client, E2E = end of stream, output tok/s over the measured window, hit % = Σ `usage.prompt_tokens_details.cached_tokens` ÷ Σ prompt tokens of measured requests (the discrete-event column uses the engine\'s own counts, same definition). Errors: non-200, broken streams, missing usage, wrong completion length; an error counts as an infinite TTFT. **Sim slowdown** is real-time lag measured inside each simulator: Σ (how late each engine timer fired) ÷ Σ (scheduled step time), mean over the 4 simulators — each late step makes the simulated GPU that much slower than the cost model, so this is the fraction by which the fleet ran slower than it should; "late p99" is the worst simulator\'s p99 timer lateness in real ms.',
  );
  L.push('');
  for (const res of r.results) {
    L.push(`## ${res.w.spec.title}`);
    L.push('');
    L.push(`Offered ${f2(res.qps)} QPS (simulated) = ${f1(res.qps / r.timeScale)} requests/s real.`);
    L.push('');
    L.push(...tableLines(res.rows));
    L.push('');
    const agreement = pairAgreement(res.rows);
    L.push(
      `Pairwise p99-TTFT order agreement between the real-time run and the discrete-event run of the same requests (seed ${'1'}; pairs within 10% or 10 ms of each other in both count as ties): ${agreement.agree}/${agreement.pairs}` +
        (agreement.disagreements.length ? ` (differs on ${agreement.disagreements.join('; ')}).` : '.'),
    );
    L.push('');
    {
      const lines = claimResults(res.rows, res.w.spec.shared).map(
        (c) => `| ${c.claim} | ${c.e2e.ok ? 'yes' : '**no**'} (${c.e2e.detail}) | ${c.des.ok ? 'yes' : '**no**'} (${c.des.detail}) |`,
      );
      if (lines.length) {
        L.push(`| ordering claim (from bench/results/routing.md) | real time, this run | discrete event, median of ${r.desSeeds} seeds |`);
        L.push('|---|---|---|');
        L.push(...lines);
        L.push('');
      }
    }
    const lagRows = res.rows.map(
      (x) =>
        `${x.policy}: sims ${f1(x.e2e.simSlowdown * 100)}% slow (late p99 ${f1(x.e2e.simLateP99RealMs)} ms), send lag p99 ${f1(x.e2e.sendLagP99RealMs)} ms, gateway time before its upstream attempt (server-timing) p50/p99 ${f2(x.e2e.gatewayP50RealMs)}/${f1(x.e2e.gatewayP99RealMs)} ms real, CPU gateway ${f0(x.e2e.cpuGateway * 100)}% / sims ${f0(x.e2e.cpuSims * 100)}% / load generator ${f0(x.e2e.cpuDriver * 100)}% / other jobs ${x.e2e.cpuOthers === null ? '?' : f0(x.e2e.cpuOthers * 100)}% of a core, gateway ${x.e2e.retries} retries / ${x.e2e.ejections} ejections / ${x.e2e.queueWaits} queued / ${x.e2e.inFlightAfter} in flight after the run, ${x.e2e.preemptions} preemptions`,
    );
    L.push('Real-time lag and load per run:');
    L.push('');
    for (const l of lagRows) L.push(`- ${l}`);
    L.push('');
  }
  L.push(...caveats(r));
  return `${L.join('\n')}\n`;
}
