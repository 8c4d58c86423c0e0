import type { BackendTarget } from '../types.js';
import type { EngineMetrics } from './engine-metrics.js';

/** One sample of the Prometheus text format. */
interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * Parses the Prometheus text exposition format, keeping only the names asked for (a vLLM /metrics page has
 * thousands of histogram lines routing never reads). Malformed lines are skipped, never thrown on.
 */
export function parsePrometheus(text: string, wanted: ReadonlySet<string>): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    if (raw.length === 0 || raw.charCodeAt(0) === 35 /* # */) continue;
    const m = LINE.exec(raw);
    if (!m) continue;
    const name = m[1] as string;
    if (!wanted.has(name)) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    const labels: Record<string, string> = {};
    if (m[2]) for (const l of m[2].matchAll(LABEL)) labels[l[1] as string] = l[2] as string;
    out.push({ name, labels, value });
  }
  return out;
}

/** Metric names per engine kind (routing-research.md §3). */
const NAMES = {
  vllm: {
    running: ['vllm:num_requests_running'],
    waiting: ['vllm:num_requests_waiting'],
    kvUsage: ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'],
    queries: ['vllm:prefix_cache_queries_total', 'vllm:gpu_prefix_cache_queries_total'],
    hits: ['vllm:prefix_cache_hits_total', 'vllm:gpu_prefix_cache_hits_total'],
    prompt: ['vllm:prompt_tokens_total'],
    generation: ['vllm:generation_tokens_total'],
    info: ['vllm:cache_config_info'],
  },
  sglang: {
    running: ['sglang:num_running_reqs'],
    waiting: ['sglang:num_queue_reqs'],
    kvUsage: ['sglang:token_usage'],
    queries: ['sglang:prompt_tokens_total'],
    hits: ['sglang:cached_tokens_total'],
    prompt: ['sglang:prompt_tokens_total'],
    generation: ['sglang:generation_tokens_total'],
    info: ['sglang:max_total_num_tokens', 'sglang:cache_config_info'],
  },
  tgi: {
    running: ['tgi_batch_current_size'],
    waiting: ['tgi_queue_size'],
    kvUsage: [],
    queries: [],
    hits: [],
    prompt: [],
    generation: ['tgi_request_count'],
    info: [],
  },
  llamacpp: {
    running: ['llamacpp:requests_processing'],
    waiting: ['llamacpp:requests_deferred'],
    kvUsage: ['llamacpp:kv_cache_usage_ratio'],
    queries: ['llamacpp:prompt_tokens_total'],
    hits: [],
    prompt: ['llamacpp:prompt_tokens_total'],
    generation: ['llamacpp:tokens_predicted_total'],
    info: [],
  },
} as const;

type Kind = keyof typeof NAMES;

export function scrapeableKind(kind: BackendTarget['kind']): kind is Kind {
  return kind in NAMES;
}

const WANTED = new Map<Kind, ReadonlySet<string>>(
  (Object.keys(NAMES) as Kind[]).map((k) => [k, new Set(Object.values(NAMES[k]).flat())]),
);

/** Normalises one engine's /metrics page. Several series of one name (model, engine labels) are summed. */
export function metricsFromText(kind: Kind, text: string): EngineMetrics {
  const samples = parsePrometheus(text, WANTED.get(kind) as ReadonlySet<string>);
  const n = NAMES[kind];
  const sum = (names: readonly string[]): number | null => {
    for (const name of names) {
      let total = 0;
      let seen = false;
      for (const s of samples) {
        if (s.name !== name) continue;
        total += s.value;
        seen = true;
      }
      if (seen) return total;
    }
    return null;
  };
  let capacity: number | null = null;
  let blockSize: number | null = null;
  for (const s of samples) {
    if (s.name === 'vllm:cache_config_info' || s.name === 'sglang:cache_config_info') {
      const bs = Number(s.labels['block_size'] ?? s.labels['page_size']);
      const blocks = Number(s.labels['num_gpu_blocks'] ?? s.labels['num_pages']);
      if (bs > 0) blockSize = bs;
      if (bs > 0 && blocks > 0) capacity = bs * blocks;
    } else if (s.name === 'sglang:max_total_num_tokens' && s.value > 0) capacity = s.value;
  }
  // Running and waiting are gauges per engine (data-parallel ranks add up); usage is averaged.
  const usageSamples = samples.filter((s) => (n.kvUsage as readonly string[]).includes(s.name));
  const kvUsage = usageSamples.length === 0 ? null : usageSamples.reduce((a, s) => a + s.value, 0) / usageSamples.length;
  return {
    running: sum(n.running),
    waiting: sum(n.waiting),
    kvUsage,
    kvCapacityTokens: capacity,
    blockSize,
    prefixQueriesTokens: sum(n.queries),
    prefixHitsTokens: sum(n.hits),
    promptTokensTotal: sum(n.prompt),
    generationTokensTotal: sum(n.generation),
  };
}
