/**
 * /metrics in Prometheus text format under each engine's real metric names (routing-research.md §3), so the
 * gateway's scrapers are written against the names they will meet in production.
 * vLLM and SGLang label series with model_name; TGI and llama.cpp use no labels, as those engines do.
 * Latencies are simulated seconds.
 */
import type { EngineSnapshot } from '../engine/types.js';
import type { FrontStats, Histogram } from '../front-stats.js';
import type { Personality } from '../types.js';

export interface MetricsInput {
  personality: Personality;
  model: string;
  snapshot: EngineSnapshot;
  stats: FrontStats;
}

const BLOCK_SIZE = 16;
type Labels = Record<string, string>;

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(labels: Labels, extra?: Labels): string {
  const all = extra ? { ...labels, ...extra } : labels;
  const parts = Object.entries(all).map(([k, v]) => `${k}="${esc(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function num(v: number): string {
  return Number.isFinite(v) ? String(v) : '0';
}

class Exposition {
  readonly #lines: string[] = [];
  constructor(readonly labels: Labels) {}

  #head(name: string, type: string, help: string): void {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }
  gauge(name: string, help: string, value: number, extra?: Labels): this {
    this.#head(name, 'gauge', help);
    this.#lines.push(`${name}${labelText(this.labels, extra)} ${num(value)}`);
    return this;
  }
  /** name must carry its _total suffix, as the Python client writes it in the text format. */
  counter(name: string, help: string, values: number | [Labels, number][]): this {
    this.#head(name, 'counter', help);
    if (typeof values === 'number') this.#lines.push(`${name}${labelText(this.labels)} ${num(values)}`);
    else for (const [extra, v] of values) this.#lines.push(`${name}${labelText(this.labels, extra)} ${num(v)}`);
    return this;
  }
  histogram(name: string, help: string, h: Histogram): this {
    this.#head(name, 'histogram', help);
    let cumulative = 0;
    h.buckets.forEach((le, i) => {
      cumulative += h.counts[i] as number;
      this.#lines.push(`${name}_bucket${labelText(this.labels, { le: String(le) })} ${cumulative}`);
    });
    this.#lines.push(`${name}_bucket${labelText(this.labels, { le: '+Inf' })} ${h.count}`);
    this.#lines.push(`${name}_sum${labelText(this.labels)} ${num(h.sum)}`, `${name}_count${labelText(this.labels)} ${h.count}`);
    return this;
  }
  text(): string {
    return `${this.#lines.join('\n')}\n`;
  }
}

function vllm({ model, snapshot: s, stats }: MetricsInput): string {
  const m = new Exposition({ model_name: model, engine: '0' });
  const f = stats.finished;
  m.gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', s.running)
    .gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', s.waiting)
    .gauge('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.', s.kvUsage);
  const info = new Exposition({}).gauge('vllm:cache_config_info', 'Information of the LLMEngine CacheConfig', 1, {
    block_size: String(BLOCK_SIZE),
    cache_dtype: 'auto',
    enable_prefix_caching: 'True',
    gpu_memory_utilization: '0.9',
    num_gpu_blocks: String(s.kvBlocksTotal),
  });
  m.counter('vllm:prefix_cache_queries_total', 'Prefix cache queries, in terms of number of queried tokens.', s.prefixQueriesTokens)
    .counter('vllm:prefix_cache_hits_total', 'Prefix cache hits, in terms of number of cached tokens.', s.prefixHitsTokens)
    .counter('vllm:num_preemptions_total', 'Cumulative number of preemption from the engine.', s.preemptions)
    .counter('vllm:prompt_tokens_total', 'Number of prefill tokens processed.', s.promptTokensTotal)
    .counter('vllm:generation_tokens_total', 'Number of generation tokens processed.', s.generationTokensTotal)
    .counter('vllm:request_success_total', 'Count of successfully processed requests.', [
      [{ finished_reason: 'stop' }, f.stop],
      [{ finished_reason: 'length' }, f.length],
      [{ finished_reason: 'abort' }, f.abort],
    ])
    .histogram('vllm:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', stats.ttft)
    .histogram('vllm:inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', stats.itl)
    .histogram('vllm:time_per_output_token_seconds', 'Histogram of time per output token in seconds (deprecated name).', stats.itl)
    .histogram('vllm:request_time_per_output_token_seconds', 'Histogram of time_per_output_token_seconds per request.', stats.tpot)
    .histogram('vllm:e2e_request_latency_seconds', 'Histogram of e2e request latency in seconds.', stats.e2e)
    .histogram('vllm:request_prompt_tokens', 'Number of prefill tokens processed.', stats.promptTokens)
    .histogram('vllm:request_generation_tokens', 'Number of generation tokens processed.', stats.generationTokens);
  return m.text() + info.text();
}

function sglang({ model, snapshot: s, stats }: MetricsInput): string {
  const maxTokens = s.kvBlocksTotal * BLOCK_SIZE;
  const m = new Exposition({ model_name: model });
  return m
    .gauge('sglang:num_running_reqs', 'The number of running requests.', s.running)
    .gauge('sglang:num_queue_reqs', 'The number of requests in the waiting queue.', s.waiting)
    .gauge('sglang:num_used_tokens', 'The number of used tokens.', Math.round(s.kvUsage * maxTokens))
    .gauge('sglang:token_usage', 'The token usage.', s.kvUsage)
    .gauge('sglang:max_total_num_tokens', 'Maximum total number of tokens in the KV cache pool.', maxTokens)
    .gauge('sglang:cache_hit_rate', 'The prefix cache hit rate.', s.prefixQueriesTokens ? s.prefixHitsTokens / s.prefixQueriesTokens : 0)
    .gauge('sglang:gen_throughput', 'The generation throughput (token/s).', 0)
    .counter('sglang:prompt_tokens_total', 'Number of prefill tokens processed.', s.promptTokensTotal)
    .counter('sglang:generation_tokens_total', 'Number of generation tokens processed.', s.generationTokensTotal)
    .counter('sglang:cached_tokens_total', 'Number of cached prompt tokens.', [[{ cache_source: 'device' }, stats.cachedTokens]])
    .counter('sglang:num_requests_total', 'Number of requests processed.', stats.requests)
    .histogram('sglang:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', stats.ttft)
    .histogram('sglang:inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', stats.itl)
    .histogram('sglang:e2e_request_latency_seconds', 'Histogram of End-to-end request latency in seconds', stats.e2e)
    .text();
}

function tgi({ snapshot: s, stats }: MetricsInput): string {
  const m = new Exposition({});
  return m
    .gauge('tgi_queue_size', 'Requests waiting in the queue.', s.waiting)
    .gauge('tgi_batch_current_size', 'Requests in the current batch.', s.running)
    .gauge('tgi_batch_current_max_tokens', 'Tokens the current batch may hold.', Math.round(s.kvUsage * s.kvBlocksTotal * BLOCK_SIZE))
    .counter('tgi_request_count', 'Requests received.', stats.requests)
    .counter('tgi_request_success', 'Requests completed.', stats.finished.stop + stats.finished.length)
    .histogram('tgi_request_duration', 'Request duration in seconds.', stats.e2e)
    .histogram('tgi_request_mean_time_per_token_duration', 'Mean time per token in seconds.', stats.tpot)
    .histogram('tgi_request_input_length', 'Input tokens per request.', stats.promptTokens)
    .histogram('tgi_request_generated_tokens', 'Generated tokens per request.', stats.generationTokens)
    .text();
}

function llamacpp({ snapshot: s, stats }: MetricsInput): string {
  const promptSeconds = stats.ttft.sum;
  const decodeSeconds = Math.max(0, stats.e2e.sum - stats.ttft.sum);
  const usedTokens = Math.round(s.kvUsage * s.kvBlocksTotal * BLOCK_SIZE);
  const m = new Exposition({});
  return m
    .counter('llamacpp:prompt_tokens_total', 'Number of prompt tokens processed.', s.promptTokensTotal)
    .counter('llamacpp:prompt_seconds_total', 'Prompt process time', promptSeconds)
    .counter('llamacpp:tokens_predicted_total', 'Number of generation tokens processed.', s.generationTokensTotal)
    .counter('llamacpp:tokens_predicted_seconds_total', 'Predict process time', decodeSeconds)
    .counter('llamacpp:n_decode_total', 'Total number of llama_decode() calls', s.generationTokensTotal)
    .gauge('llamacpp:n_busy_slots_per_decode', 'Average number of busy slots per llama_decode() call', s.running)
    .gauge('llamacpp:n_tokens_max', 'Largest observed n_tokens.', stats.maxRequestTokens)
    .gauge('llamacpp:prompt_tokens_seconds', 'Average prompt throughput in tokens/s.', promptSeconds ? s.promptTokensTotal / promptSeconds : 0)
    .gauge('llamacpp:predicted_tokens_seconds', 'Average generation throughput in tokens/s.', decodeSeconds ? s.generationTokensTotal / decodeSeconds : 0)
    .gauge('llamacpp:kv_cache_usage_ratio', 'KV-cache usage. 1 means 100 percent usage.', s.kvUsage)
    .gauge('llamacpp:kv_cache_tokens', 'KV-cache tokens.', usedTokens)
    .gauge('llamacpp:requests_processing', 'Number of requests processing.', s.running)
    .gauge('llamacpp:requests_deferred', 'Number of requests deferred.', s.waiting)
    .text();
}

export function renderMetrics(input: MetricsInput): string {
  switch (input.personality) {
    case 'vllm':
      return vllm(input);
    case 'sglang':
      return sglang(input);
    case 'tgi':
      return tgi(input);
    case 'llamacpp':
      return llamacpp(input);
  }
}
