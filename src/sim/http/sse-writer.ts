import type { ServerResponse } from 'node:http';

/**
 * Writes SSE frames honouring backpressure: once `res.write()` returns false, later frames are queued (the engine
 * keeps producing, as a GPU would) and flushed in one write on 'drain'. Writes after the response closed are dropped.
 */
export class SseWriter {
  readonly #res: ServerResponse;
  #pending: string[] = [];
  #blocked = false;
  #endPending = false;

  constructor(res: ServerResponse) {
    this.#res = res;
  }

  get closed(): boolean {
    return this.#res.destroyed || this.#res.writableEnded;
  }

  write(frame: string): void {
    if (this.closed || this.#endPending) return;
    if (this.#blocked) {
      this.#pending.push(frame);
      return;
    }
    if (!this.#res.write(frame)) this.#block();
  }

  end(frame?: string): void {
    if (this.closed || this.#endPending) return;
    if (this.#blocked) {
      if (frame) this.#pending.push(frame);
      this.#endPending = true;
      return;
    }
    this.#res.end(frame);
  }

  #block(): void {
    this.#blocked = true;
    this.#res.once('drain', () => this.#flush());
  }

  #flush(): void {
    this.#blocked = false;
    if (this.closed) return;
    const data = this.#pending.join('');
    this.#pending = [];
    if (this.#endPending) {
      this.#res.end(data || undefined);
      return;
    }
    if (data && !this.#res.write(data)) this.#block();
  }
}
