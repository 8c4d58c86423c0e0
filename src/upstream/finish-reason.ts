/**
 * `finish_reason` values outside OpenAI's set (SGLang's and vLLM's `abort`, TGI's `eos_token`, Anthropic-style
 * `end_turn`, ...) break typed SDKs and clients that switch on the value. They are rewritten in the bytes, without
 * parsing the document, and the engine's own value is kept beside it as `native_finish_reason` (the name other
 * gateways use), so nothing is lost. The mapping is documented in the README.
 */
import { skipJsonSpace } from '../core/index.js';
import { jsonKey, keyAt } from './json-key.js';

export type FinishReasonSet = 'chat' | 'completions';

const CHAT_VALUES = new Set(['stop', 'length', 'tool_calls', 'content_filter', 'function_call']);
const COMPLETION_VALUES = new Set(['stop', 'length', 'content_filter']);

/** Engine values with an OpenAI meaning; anything else (abort, error, cancelled, unknown) becomes `stop`. */
const MAPPED: Readonly<Record<string, string>> = {
  eos: 'stop',
  eos_token: 'stop',
  stop_sequence: 'stop',
  end_turn: 'stop',
  max_tokens: 'length',
  model_length: 'length',
  tool_use: 'tool_calls',
  content_filtered: 'content_filter',
  safety: 'content_filter',
};

const KEY = jsonKey('finish_reason');
const QUOTE = 0x22;

export function openaiFinishReason(value: string, set: FinishReasonSet): string {
  const allowed = set === 'chat' ? CHAT_VALUES : COMPLETION_VALUES;
  if (allowed.has(value)) return value;
  const mapped = MAPPED[value] ?? 'stop';
  return allowed.has(mapped) ? mapped : 'stop';
}

/**
 * buf[start, end) with every non-OpenAI `finish_reason` rewritten, or null when every value is already OpenAI's
 * (the common case: one memchr-backed search per key occurrence, no allocation).
 */
export function fixFinishReasons(buf: Buffer, start: number, end: number, set: FinishReasonSet): Buffer | null {
  const allowed = set === 'chat' ? CHAT_VALUES : COMPLETION_VALUES;
  let parts: Buffer[] | null = null;
  let copied = start;
  let at = keyAt(buf, KEY, start);
  while (at !== -1 && at + KEY.bytes.length <= end) {
    let i = at + KEY.bytes.length;
    i = skipJsonSpace(buf, i, end);
    if (buf[i] === 0x3a) {
      i = skipJsonSpace(buf, i + 1, end);
      if (buf[i] === QUOTE) {
        const close = buf.indexOf(QUOTE, i + 1);
        if (close !== -1 && close < end) {
          const value = buf.toString('utf8', i + 1, close);
          if (!allowed.has(value) && value.indexOf('\\') === -1) {
            parts ??= [];
            parts.push(buf.subarray(copied, i), Buffer.from(`"${openaiFinishReason(value, set)}","native_finish_reason":"${value}"`));
            copied = close + 1;
          }
          i = close + 1;
        }
      }
    }
    at = keyAt(buf, KEY, i);
  }
  if (parts === null) return null;
  parts.push(buf.subarray(copied, end));
  return Buffer.concat(parts);
}
