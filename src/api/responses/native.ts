import type { GatewayError } from '../../core/index.js';
import { findUsage, type BackendUsage } from '../../upstream/index.js';
import { PassThroughEvents } from '../pass-through-events.js';
import { responsesErrorFrame } from './stream.js';

const CREATED = /"type":\s?"response\.created"/;
const TERMINAL = /"type":\s?"response\.(completed|incomplete|failed)"/;
const ERROR = /^\{\s*"type":\s?"error"/;
const DELTA = /"type":\s?"response\.(output_text|function_call_arguments|reasoning_text)\.delta"/;

/** Id and store flag of a Response object (the created event's, or a whole non-streamed body). */
export function storedId(response: unknown): { id: string; stored: boolean } | null {
  if (!response || typeof response !== 'object') return null;
  const r = response as Record<string, unknown>;
  return typeof r.id === 'string' ? { id: r.id, stored: r.store === true } : null;
}

/**
 * A native Responses stream (vLLM, OpenAI) relayed byte for byte. It ends with response.completed / incomplete /
 * failed rather than `[DONE]`, carries usage in the final response, and its response.created event names the id to
 * remember when the backend stored it.
 */
export class NativeResponsesStream extends PassThroughEvents {
  #events = 0;
  #usage: BackendUsage | null = null;
  /** The response.created event's Response: what a response.failed of the gateway's own starts from. */
  #created: Record<string, unknown> | null = null;

  constructor(
    backendLabel: string,
    private readonly onCreated: (id: string, stored: boolean) => void,
  ) {
    super(backendLabel);
  }

  protected typedEvent(data: string, raw: Buffer): Buffer {
    this.#events++;
    if (DELTA.test(data)) this.contentEvents++;
    else if (CREATED.test(data)) {
      try {
        const response = (JSON.parse(data) as { response?: unknown }).response;
        if (response && typeof response === 'object') this.#created = response as Record<string, unknown>;
        const s = storedId(response);
        if (s) this.onCreated(s.id, s.stored);
      } catch {
        // Not JSON: relayed as is; nothing to remember.
      }
    } else {
      const t = TERMINAL.exec(data);
      if (t) {
        this.done = true;
        this.failed = t[1] === 'failed';
        this.#usage = findUsage(raw);
      } else if (ERROR.test(data)) this.failed = true;
    }
    return raw;
  }

  finish(): null {
    return null;
  }

  usage(): BackendUsage | null {
    return this.#usage;
  }

  /**
   * The stream broke after it started (an engine's error event, a drop, a stall): the `error` event, then a
   * `response.failed` (the created Response, failed), so the stream ends on a terminal event as OpenAI's do and an
   * SDK's accumulated final Response says failed rather than in_progress.
   */
  errorFrame(err: GatewayError): string {
    const error = responsesErrorFrame(err, this.#events++);
    if (this.#created === null || this.done) return error;
    const response = { ...this.#created, status: 'failed', error: { code: 'server_error', message: err.message }, incomplete_details: null };
    return `${error}event: response.failed\ndata: ${JSON.stringify({ type: 'response.failed', response, sequence_number: this.#events++ })}\n\n`;
  }
}
