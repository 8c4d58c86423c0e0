/** Counters and latency samples behind EngineSnapshot; samples are capped so a long-running simulator stays bounded. */
export class EngineStats {
  prefixQueriesTokens = 0;
  prefixHitsTokens = 0;
  preemptions = 0;
  promptTokensTotal = 0;
  generationTokensTotal = 0;
  requestsFinished = 0;
  steps = 0;
  busyMs = 0;
  readonly #cap: number;
  #ttft: number[] = [];
  #itl: number[] = [];
  #e2e: number[] = [];

  constructor(cap: number) {
    this.#cap = cap;
  }

  ttft(seconds: number): void {
    this.#push(this.#ttft, seconds);
  }

  itl(seconds: number): void {
    this.#push(this.#itl, seconds);
  }

  e2e(seconds: number): void {
    this.#push(this.#e2e, seconds);
  }

  samples(): { ttftSeconds: number[]; itlSeconds: number[]; e2eSeconds: number[] } {
    const last = (a: number[]): number[] => (a.length > this.#cap ? a.slice(a.length - this.#cap) : a.slice());
    return { ttftSeconds: last(this.#ttft), itlSeconds: last(this.#itl), e2eSeconds: last(this.#e2e) };
  }

  #push(a: number[], v: number): void {
    if (this.#cap === 0) return;
    a.push(v);
    // Trim in halves so dropping the oldest samples stays amortised O(1).
    if (a.length >= 2 * this.#cap) a.splice(0, a.length - this.#cap);
  }
}
