import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import type { GatewayError, RequestCtx } from '../../core/index.js';
import type { BackendUsage } from '../../upstream/index.js';
import { basesOf, servesNatively } from '../backend-support.js';
import { PassThroughEvents } from '../pass-through-events.js';
import type { BodyLimits, Family, FamilyRequest } from '../family.js';
import { applyEdits } from '../json-splice.js';
import { parseJsonBody, readRequestBody } from '../read-body.js';
import { validateNamed } from '../wire.js';
import { anthropicErrorEvent, writeAnthropicError } from './errors.js';
import { anthropicCredential } from './credential.js';
import { countRequest, messagesRequest, promptText } from './wire.js';

/**
 * The Anthropic Messages API (`POST /v1/messages`, streamed and not, and `POST /v1/messages/count_tokens`), passed
 * through to engines that serve it (vLLM, llama.cpp). Errors use Anthropic's shape, and the gateway credential may
 * come as `x-api-key` (Anthropic's SDK default) as well as `Authorization: Bearer`.
 */
/** Authorization wins when both are sent; a bare `x-api-key` is read as a Bearer token. */

const TYPE = /^\{\s*"type":\s?"([a-z_]+)"/;

/**
 * A Messages stream relayed byte for byte. It ends with `message_stop` (no `[DONE]`); usage is split between
 * message_start (input tokens) and message_delta (output tokens, cumulative).
 */
class MessagesStream extends PassThroughEvents {
  #input = 0;
  #cached = 0;
  #created = 0;
  #output = 0;
  #seen = false;
  /** message_delta came: its output_tokens is the final count; until then only message_start's provisional one. */
  #final = false;

  protected typedEvent(data: string, raw: Buffer): Buffer {
    const type = TYPE.exec(data)?.[1] ?? (/"type":\s?"(message_start|message_delta|message_stop|error)"/.exec(data)?.[1] ?? null);
    if (type === 'content_block_delta') this.contentEvents++;
    else if (type === 'message_start' || type === 'message_delta') this.#usage(data, type);
    else if (type === 'message_stop') this.done = true;
    else if (type === 'error') this.failed = true;
    return raw;
  }

  #usage(data: string, type: string): void {
    try {
      const ev = JSON.parse(data) as { message?: { usage?: Record<string, unknown> }; usage?: Record<string, unknown> };
      const u = (type === 'message_start' ? ev.message?.usage : ev.usage) ?? {};
      if (typeof u.input_tokens === 'number') this.#input = u.input_tokens;
      if (typeof u.cache_read_input_tokens === 'number') this.#cached = u.cache_read_input_tokens;
      if (typeof u.cache_creation_input_tokens === 'number') this.#created = u.cache_creation_input_tokens;
      if (typeof u.output_tokens === 'number') this.#output = u.output_tokens;
      if (type === 'message_delta') this.#final = true;
      this.#seen = true;
    } catch {
      // Relayed as is; usage falls back to the gateway's estimate.
    }
  }

  finish(): null {
    return null;
  }

  usage(): BackendUsage | null {
    if (!this.#seen) return null;
    // A stream cut before message_delta (client gone, backend dropped) has only message_start's provisional count
    // (1, or 0): the content deltas relayed are the better lower bound, as for a chat stream without its usage chunk.
    const output = this.#final ? this.#output : Math.max(this.#output, this.contentEvents);
    // Anthropic's input_tokens leaves out the cache's part of the prompt (usage-tap.ts): the whole prompt is charged.
    return { promptTokens: this.#input + this.#cached + this.#created, completionTokens: output, cachedTokens: this.#cached };
  }

  errorFrame(err: GatewayError): string {
    return anthropicErrorEvent(err);
  }
}

const NO_TOKENS = (): BackendUsage => ({ promptTokens: 0, completionTokens: 0, cachedTokens: 0 });

export const messagesFamily: Family = {
  endpoint: 'messages',
  credential: anthropicCredential,
  writeError: writeAnthropicError,
  requestIdHeader: 'request-id',
  async read(incoming: IncomingMessage, limits: BodyLimits, ctx: RequestCtx): Promise<FamilyRequest> {
    const count = (incoming.url ?? '').startsWith('/v1/messages/count_tokens');
    const raw = await readRequestBody(incoming, limits.body_limit);
    const body = validateNamed(count ? countRequest : messagesRequest, parseJsonBody(raw, limits.max_json_nodes), ctx) as z.infer<typeof messagesRequest>;
    const stream = !count && body.stream === true;
    return {
      model: body.model,
      stream,
      maxTokens: count ? 0 : body.max_tokens,
      generates: !count,
      promptText: promptText(body),
      sessionKey: null,
      pinnedBackend: null,
      replayable: () => true,
      serves: (b) => servesNatively('messages', b),
      call: (backend) => ({
        method: 'POST',
        path: `${basesOf(backend).v1}/messages${count ? '/count_tokens' : ''}`,
        body: backend.model === body.model ? raw : applyEdits(raw, [{ key: 'model', value: JSON.stringify(backend.model) }]),
        events: stream ? new MessagesStream(backend.label) : null,
        // Counting does no inference: it spends no tokens from the caller's budgets.
        ...(count ? { usage: NO_TOKENS } : {}),
      }),
    };
  },
};
