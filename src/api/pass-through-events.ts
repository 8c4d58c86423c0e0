import type { GatewayError } from '../core/index.js';
import { engineErrorEvent, type BackendUsage } from '../upstream/index.js';
import type { EventTransform } from './event-relay.js';

/**
 * A typed event stream (Responses, Messages) relayed byte for byte from an engine that serves it natively. Engines
 * fail such a stream the way they fail a chat stream: a chat-shaped error event (`{"error": …}`, SGLang's flat
 * `{"object": "error", …}`) and `[DONE]`, neither of which a client of the typed protocol can read. The error becomes
 * the family's own error frame and ends what reaches the client; `[DONE]` is dropped.
 */
export abstract class PassThroughEvents implements EventTransform {
  done = false;
  failed = false;
  contentEvents = 0;
  #engineFailed = false;

  constructor(private readonly backendLabel: string) {}

  event(data: string, raw: Buffer): string | Buffer | null {
    if (this.#engineFailed || data === '[DONE]') return null;
    const err = engineErrorEvent(data, this.backendLabel);
    if (err === null) return this.typedEvent(data, raw);
    this.failed = true;
    this.#engineFailed = true;
    return this.errorFrame(err);
  }

  /** One event of the typed protocol: its bytes as the client gets them. */
  protected abstract typedEvent(data: string, raw: Buffer): Buffer;
  abstract finish(): string | null;
  abstract usage(): BackendUsage | null;
  abstract errorFrame(err: GatewayError): string;
}
