/**
 * The request shapes nearly every client sends, accepted without zod. zod's parse allocates a result per field and
 * copies every object it checks (about 2.3 KB and 0.9 µs for a two-message chat body), while the pipeline keeps the
 * client's body, not zod's copy. Each check here accepts only values the schemas in wire.ts accept (never more);
 * everything else, valid or not, goes through zod, so every refusal and its message are zod's.
 * test/unit/wire-fast.test.ts holds the two together over generated bodies.
 */

import { depthWithin } from '../core/index.js';

type Body = Record<string, unknown>;

const isRecord = (v: unknown): v is Body => v !== null && typeof v === 'object' && !Array.isArray(v);
const absent = (v: unknown): boolean => v === undefined || v === null;
/** zod's `.int()` is a safe integer. */
const isCount = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const optionalCount = (v: unknown): boolean => absent(v) || isCount(v);
const optionalAtLeastOne = (v: unknown): boolean => absent(v) || (isCount(v) && (v as number) >= 1);
const optionalString = (v: unknown): boolean => absent(v) || typeof v === 'string';
const optionalBoolean = (v: unknown): boolean => absent(v) || typeof v === 'boolean';

function streamFields(b: Body): boolean {
  const o = b.stream_options;
  return optionalBoolean(b.stream) && (absent(o) || (isRecord(o) && optionalBoolean(o.include_usage)));
}

const sessionFields = (b: Body): boolean => optionalString(b.user) && optionalString(b.prompt_cache_key);

function chatMessages(v: unknown): boolean {
  if (!Array.isArray(v) || v.length === 0) return false;
  for (const m of v) {
    if (!isRecord(m) || typeof m.role !== 'string' || m.role.length === 0) return false;
    const c = m.content;
    if (!(c === undefined || c === null || typeof c === 'string' || (Array.isArray(c) && contentParts(c)))) return false;
  }
  return true;
}

/** Parts are objects, or bare strings (as vLLM takes them). */
function contentParts(a: readonly unknown[]): boolean {
  for (const p of a) if (typeof p !== 'string' && !isRecord(p)) return false;
  return true;
}

function allRecords(a: readonly unknown[]): boolean {
  for (const v of a) if (!isRecord(v)) return false;
  return true;
}

function allStrings(a: readonly unknown[]): boolean {
  for (const s of a) if (typeof s !== 'string') return false;
  return true;
}

function allInts(a: readonly unknown[]): boolean {
  for (const n of a) if (typeof n !== 'number' || !Number.isSafeInteger(n)) return false;
  return true;
}

function allIntArrays(a: readonly unknown[]): boolean {
  for (const t of a) if (!Array.isArray(t) || !allInts(t)) return false;
  return true;
}

/** A prompt or an input: a string, or a list of strings, of token ids, or of token-id lists (`nonEmpty` for inputs). */
function textOrTokens(v: unknown, nonEmpty: boolean): boolean {
  if (typeof v === 'string') return true;
  if (!Array.isArray(v)) return false;
  if (v.length === 0) return !nonEmpty;
  return typeof v[0] === 'string' ? allStrings(v) : typeof v[0] === 'number' ? allInts(v) : allIntArrays(v);
}

export interface ShapeLimits {
  readonly maxModelName: number;
  readonly maxToolsDepth: number;
}

/** Per endpoint: true only when the schema certainly accepts the body (a JSON object); false says "ask zod". */
export function shapeChecks(limits: ShapeLimits): Record<'chat' | 'completions' | 'embeddings', (b: Body) => boolean> {
  const model = (v: unknown): boolean => typeof v === 'string' && v.length > 0 && v.length <= limits.maxModelName;
  const tools = (v: unknown): boolean => absent(v) || (Array.isArray(v) && allRecords(v) && depthWithin(v, limits.maxToolsDepth));
  return {
    chat: (b) =>
      model(b.model) &&
      chatMessages(b.messages) &&
      optionalAtLeastOne(b.max_tokens) &&
      optionalAtLeastOne(b.max_completion_tokens) &&
      optionalAtLeastOne(b.n) &&
      optionalAtLeastOne(b.best_of) &&
      tools(b.tools) &&
      streamFields(b) &&
      sessionFields(b),
    completions: (b) =>
      model(b.model) &&
      textOrTokens(b.prompt, false) &&
      optionalCount(b.max_tokens) &&
      optionalAtLeastOne(b.n) &&
      optionalAtLeastOne(b.best_of) &&
      streamFields(b) &&
      sessionFields(b),
    embeddings: (b) =>
      model(b.model) &&
      textOrTokens(b.input, true) &&
      (absent(b.encoding_format) || b.encoding_format === 'float' || b.encoding_format === 'base64') &&
      sessionFields(b),
  };
}
