import type { ServerResponse } from 'node:http';
import { timerDelay } from '../core/index.js';

const COMMENT = Buffer.from(': keep-alive\n\n');

/**
 * SSE comments sent while a stream whose head has gone out waits for its first token (a queued prefill, or retries on
 * other backends), so clients, load balancers and proxies with read timeouts see a live connection. SDKs ignore
 * comment lines. One per request, spanning its attempts; it stops for good at the first token.
 */
export class Heartbeat {
  readonly #out: ServerResponse;
  readonly #everyMs: number;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(out: ServerResponse, everyMs: number) {
    this.#out = out;
    this.#everyMs = everyMs;
  }

  start(): void {
    if (this.#stopped || this.#timer !== null || this.#everyMs <= 0) return;
    this.#timer = setInterval(() => {
      if (this.#out.destroyed || this.#out.writableEnded) this.stop();
      else this.#out.write(COMMENT);
    }, timerDelay(this.#everyMs));
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
