/**
 * Exactness across processes: three gateway processes (the workers of one supervisor, or three replicas on one
 * Redis), 50-way concurrency each, every limit set so that about half the traffic must be refused. Admitted work is
 * measured at the backend (the counting backend of the tests), never taken from the gateway's own word.
 */
import { startRedis, type TestRedis } from '../../test/helpers/redis.js';
import { startCountingBackend, type CountingBackend } from '../../test/scale/counting-backend.js';
import { chat, startGatewayProc, tempConfig, type GatewayProc } from '../../test/scale/proc.js';

export const LIMITS = { rpm: 120, tpm: 2000, concurrency: 10, quota: 1000 };
const PER_REQUEST_TOKENS = 10;

export interface ExactnessRow {
  setup: string;
  limit: string;
  cap: number;
  offered: number;
  admitted: number;
  /** Admitted beyond the limit plus its refill over the run (must be 0). */
  overrun: number;
  /** Capacity (with refill) left unused at the end although requests were refused. */
  leftUnused: number;
  /** Refused by the limit (429). */
  refused: number;
  /** Refused because the shared state was unreachable (503 `state_unavailable`, `on_unreachable: refuse` only). */
  unavailable: number;
}

function config(backendUrl: string, redisUrl: string | null, mode: 'share' | 'refuse'): Record<string, unknown> {
  const models = ['m-rpm', 'm-tpm', 'm-conc', 'm-quota'].map((name) => ({ name, backends: [{ url: backendUrl, kind: 'openai' }], retries: 0 }));
  return {
    server: redisUrl ? { listen: '127.0.0.1:0', drain: '1s' } : { listen: '127.0.0.1:0', drain: '1s', workers: 3 },
    auth: 'none',
    models,
    routing: { health: { probe_interval: 0 }, scrape: { interval: 0 } },
    limits: [
      { match: { model: 'm-rpm' }, rpm: LIMITS.rpm },
      { match: { model: 'm-tpm' }, tpm: LIMITS.tpm },
      { match: { model: 'm-conc' }, concurrency: LIMITS.concurrency },
    ],
    quotas: [{ match: { model: 'm-quota' }, tokens_per_day: LIMITS.quota }],
    usage: false,
    ...(redisUrl ? { state: { redis: redisUrl, sync_interval: '50ms', replicas: 3, on_unreachable: mode } } : { state: { sync_interval: '50ms' } }),
    telemetry: { log_level: 'error', metrics: false },
  };
}

interface Offered {
  ok: number;
  refused: number;
  unavailable: number;
  ms: number;
}

/** `afterEach` runs once per finished request (the restart trigger counts them). */
async function offer(urls: string[], model: string, perProcess: number, afterEach?: () => void): Promise<Offered> {
  const t0 = performance.now();
  let ok = 0;
  let refused = 0;
  let unavailable = 0;
  await Promise.all(
    urls.map(async (url) => {
      let left = perProcess;
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          while (left-- > 0) {
            const s = await chat(url, {}, model);
            if (s === 200) ok++;
            else if (s === 503) unavailable++;
            else if (s === 429) refused++;
            else throw new Error(`unexpected status ${s} from ${url}`);
            afterEach?.();
          }
        }),
      );
    }),
  );
  return { ok, refused, unavailable, ms: performance.now() - t0 };
}

const refill = (cap: number, ms: number) => Math.floor((cap * ms) / 60_000);

async function measure(setup: string, urls: string[], backend: CountingBackend, restart: TestRedis | null): Promise<ExactnessRow[]> {
  const rows: ExactnessRow[] = [];
  const n = urls.length;
  const row = (limit: string, cap: number, offered: number, admitted: number, o: Offered): ExactnessRow => ({
    setup,
    limit,
    cap,
    offered,
    admitted,
    overrun: Math.max(0, admitted - cap),
    leftUnused: Math.max(0, cap - admitted),
    refused: o.refused,
    unavailable: o.unavailable,
  });
  // With a restart asked for, Redis is killed (its data lost) and started again once a third of the requests have
  // finished, while the other 150 keep going: leases, reservations and requests are in flight across it.
  const split = async (model: string, perProcess: number): Promise<Offered> => {
    if (!restart) return offer(urls, model, perProcess);
    const trigger = Math.floor((perProcess * n) / 3);
    let done = 0;
    let restarting: Promise<void> | null = null;
    const o = await offer(urls, model, perProcess, () => {
      if (++done === trigger) restarting = restart.restart();
    });
    await restarting;
    return o;
  };
  const rpmPer = Math.ceil((2 * LIMITS.rpm) / n);
  const r = await split('m-rpm', rpmPer);
  rows.push(row('rpm', LIMITS.rpm + refill(LIMITS.rpm, r.ms), rpmPer * n, r.ok, r));
  const tpmPer = Math.ceil((2 * LIMITS.tpm) / PER_REQUEST_TOKENS / n);
  const t = await split('m-tpm', tpmPer);
  rows.push(row('tpm (tokens)', LIMITS.tpm + refill(LIMITS.tpm, t.ms), tpmPer * n * PER_REQUEST_TOKENS, t.ok * PER_REQUEST_TOKENS, t));
  const c = await split('m-conc', 50);
  rows.push({ ...row('concurrency (peak in flight)', LIMITS.concurrency, 50 * n, backend.peak('m-conc'), c), leftUnused: 0 });
  const qPer = Math.ceil((2 * LIMITS.quota) / PER_REQUEST_TOKENS / n);
  const q = await split('m-quota', qPer);
  rows.push(row('daily quota (tokens)', LIMITS.quota, qPer * n * PER_REQUEST_TOKENS, q.ok * PER_REQUEST_TOKENS, q));
  return rows;
}

/** Runs the three setups; each starts its own processes and backend. */
export async function runExactness(log: (s: string) => void): Promise<ExactnessRow[]> {
  const rows: ExactnessRow[] = [];
  const setups: Array<{ name: string; redis: boolean; restart: boolean; mode: 'share' | 'refuse' }> = [
    { name: '3 workers (supervisor)', redis: false, restart: false, mode: 'share' },
    { name: '3 replicas on Redis', redis: true, restart: false, mode: 'share' },
    { name: '3 replicas, Redis restarted mid-run, on_unreachable: refuse', redis: true, restart: true, mode: 'refuse' },
    { name: '3 replicas, Redis restarted mid-run, on_unreachable: share', redis: true, restart: true, mode: 'share' },
  ];
  for (const s of setups) {
    log(`exactness: ${s.name}`);
    const backend = await startCountingBackend(40);
    const redis = s.redis ? await startRedis() : null;
    const { dir, file } = await tempConfig(() => config(backend.url, redis?.url ?? null, s.mode));
    const procs: GatewayProc[] = s.redis ? await Promise.all([0, 1, 2].map(() => startGatewayProc(dir, file))) : [await startGatewayProc(dir, file)];
    try {
      // Three processes either way: the workers of one supervisor share its port, so its URL stands for all three.
      const urls = procs.length === 1 ? [procs[0]!.url, procs[0]!.url, procs[0]!.url] : procs.map((p) => p.url);
      rows.push(...(await measure(s.name, urls, backend, s.restart ? redis : null)));
    } finally {
      await Promise.all(procs.map((p) => p.cleanup()));
      await backend.close();
      await redis?.close();
    }
  }
  return rows;
}

const mdTable = (head: string[], rows: (string | number)[][]) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

export const EXACTNESS_HEADING = '## Exactness (3 processes, 50-way concurrency each, about half the traffic must be refused)';

/** The exactness section of bench/results/scale.md: heading, limits, table (no trailing blank line). */
export function exactnessSection(rows: readonly ExactnessRow[]): string {
  return [
    EXACTNESS_HEADING,
    '',
    `Limits: rpm ${LIMITS.rpm}, tpm ${LIMITS.tpm}, concurrency ${LIMITS.concurrency}, daily quota ${LIMITS.quota} tokens; every request uses 10 tokens.`,
    `"cap" is the limit plus its refill during the run; admitted work is counted at the backend. "refused" are 429s (the limit);`,
    `"unavailable" are 503 \`state_unavailable\` answers while Redis was down (on_unreachable: refuse).`,
    `"Redis restarted mid-run": Redis is killed (SIGKILL, its data lost) and started again once a third of a phase's requests`,
    `have finished, while the rest are in flight (150 concurrent requests across the three replicas); every limit row, concurrency included.`,
    '',
    mdTable(
      ['setup', 'limit', 'cap', 'offered', 'admitted', 'overrun', 'left unused', 'refused', 'unavailable'],
      rows.map((r) => [r.setup, r.limit, r.cap, r.offered, r.admitted, r.overrun, r.leftUnused, r.refused, r.unavailable]),
    ),
  ].join('\n');
}

/**
 * `--only exactness`: runs this section alone and puts its table in place of the old one in the results file (the
 * other sections keep their last full run's figures; a file without the section gets it appended).
 */
export function replaceExactnessSection(md: string, section: string, when: string): string {
  const start = md.indexOf(EXACTNESS_HEADING);
  const dated = `${section}\n\n(This section re-run alone with \`--only exactness\` at ${when}.)`;
  if (start < 0) return `${md.trimEnd()}\n\n${dated}\n`;
  const next = md.indexOf('\n## ', start + EXACTNESS_HEADING.length);
  return `${md.slice(0, start)}${dated}\n${next < 0 ? '' : md.slice(next)}`;
}
