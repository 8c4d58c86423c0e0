import { z } from 'zod';
import { depthWithin, GatewayError, type RequestCtx } from '../core/index.js';
import { shapeChecks } from './wire-fast.js';

/**
 * Loose schemas for the fields the gateway routes on. Everything else, vendor extras included, is not looked at
 * here and reaches the backend byte for byte. Backends validate the rest with their own rules.
 */
const optionalInt = z.number().int().nonnegative().nullish();
/**
 * `n` and `best_of` (how many choices are generated, each up to the output cap: the token reservation counts them
 * all), and chat's output caps, which OpenAI and the engines refuse below 1. Legacy completions keep `max_tokens: 0`,
 * which scores a prompt with `echo`.
 */
const optionalAtLeastOne = z.number().int().min(1).nullish();
const sessionFields = {
  user: z.string().nullish(),
  prompt_cache_key: z.string().nullish(),
};
const streamFields = {
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
};

const tokenArray = z.array(z.number().int());
/** The longest model name the config accepts: a longer one cannot name a model, and is refused before it is stored. */
export const MAX_MODEL_NAME = 256;
const modelField = z.string().min(1).max(MAX_MODEL_NAME, `model names are at most ${MAX_MODEL_NAME} characters`);

/**
 * The model a parsed body names, before (or without) validating the rest: a refused request's usage row still says
 * which model the caller wanted. Null when there is none, or when it could name no model (never stored).
 */
export function modelNamed(body: unknown): string | null {
  if (body === null || typeof body !== 'object') return null;
  const model = (body as { model?: unknown }).model;
  return typeof model === 'string' && model.length > 0 && model.length <= MAX_MODEL_NAME ? model : null;
}
/** Nesting allowed inside `tools` (JSON schemas of real tools are a few levels deep); deeper input is refused. */
export const MAX_TOOLS_DEPTH = 64;
/**
 * Content parts and tool definitions are read by the gateway's prompt estimate, so their items must be what they are
 * on OpenAI's wire: objects (a bare string part is also taken, as vLLM takes it). A `null` among them is the client's
 * mistake to refuse here, not a shape for the estimate or the backend to trip on.
 */
const contentPart = z.union([z.string(), z.looseObject({})]);
const message = z.looseObject({
  role: z.string().min(1),
  content: z.union([z.string(), z.array(contentPart), z.null()]).optional(),
});

export const chatRequest = z.looseObject({
  model: modelField,
  messages: z.array(message).min(1, 'messages must contain at least one message'),
  max_tokens: optionalAtLeastOne,
  max_completion_tokens: optionalAtLeastOne,
  n: optionalAtLeastOne,
  best_of: optionalAtLeastOne,
  tools: z.array(z.looseObject({})).nullish().refine((t) => t == null || depthWithin(t, MAX_TOOLS_DEPTH), `tools are nested more than ${MAX_TOOLS_DEPTH} levels deep`),
  ...streamFields,
  ...sessionFields,
});

export const completionRequest = z.looseObject({
  model: modelField,
  prompt: z.union([z.string(), z.array(z.string()), tokenArray, z.array(tokenArray)]),
  max_tokens: optionalInt,
  n: optionalAtLeastOne,
  best_of: optionalAtLeastOne,
  ...streamFields,
  ...sessionFields,
});

export const embeddingRequest = z.looseObject({
  model: modelField,
  input: z.union([z.string(), z.array(z.string()).min(1), tokenArray.min(1), z.array(tokenArray).min(1)]),
  encoding_format: z.enum(['float', 'base64']).nullish(),
  ...sessionFields,
});

export type ChatRequest = z.infer<typeof chatRequest>;
export type CompletionRequest = z.infer<typeof completionRequest>;
export type EmbeddingRequest = z.infer<typeof embeddingRequest>;
export type WireRequest = ChatRequest | CompletionRequest | EmbeddingRequest;

const SCHEMAS = { chat: chatRequest, completions: completionRequest, embeddings: embeddingRequest } as const;
/** The OpenAI endpoints validated here; the other families validate their own shapes (see family.ts). */
export type OpenAIEndpoint = keyof typeof SCHEMAS;
/** The common shapes, accepted without running zod (wire-fast.ts); anything else is validated by the schemas above. */
const ACCEPTED = shapeChecks({ maxModelName: MAX_MODEL_NAME, maxToolsDepth: MAX_TOOLS_DEPTH });

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return !Number.isFinite(v) ? 'a number out of range' : Number.isInteger(v) ? 'an integer' : 'a number';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

const ARTICLE: Record<string, string> = { string: 'a string', number: 'a number', boolean: 'a boolean', object: 'an object', array: 'an array', int: 'an integer' };

/** The value the client sent at an issue's path (zod does not report inputs unless asked). */
function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let v = body;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

function paramOf(path: readonly PropertyKey[]): string | null {
  if (path.length === 0) return null;
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${String(seg)}` : String(seg);
  return out;
}

/** "a string or an object" when every option of a union refused the value's type itself; null otherwise. */
function unionTypes(issue: z.core.$ZodIssue): string | null {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return null;
  const types = new Set<string>();
  for (const option of issue.errors) {
    const only = option.length === 1 ? option[0]! : null;
    if (!only || only.code !== 'invalid_type' || only.path.length > 0) return null;
    types.add(ARTICLE[only.expected] ?? only.expected);
  }
  const list = [...types];
  return list.length === 1 ? list[0]! : `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]!}`;
}

interface Described {
  readonly message: string;
  readonly code: string;
}

/** OpenAI's message and code for a refused parameter ("Invalid 'n': integer below minimum value. …"). */
function describe(issue: z.core.$ZodIssue, param: string | null, input: unknown): Described {
  const name = param ?? 'body';
  if (input === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_union')) {
    return { message: `Missing required parameter: '${name}'.`, code: 'missing_required_parameter' };
  }
  if (issue.code === 'invalid_type') {
    return { message: `Invalid type for '${name}': expected ${ARTICLE[issue.expected] ?? issue.expected}, but got ${typeName(input)}.`, code: 'invalid_type' };
  }
  if (issue.code === 'invalid_union') {
    const expected = unionTypes(issue);
    if (expected) return { message: `Invalid type for '${name}': expected ${expected}, but got ${typeName(input)}.`, code: 'invalid_type' };
    return { message: `Invalid value for '${name}': it has the wrong shape for this endpoint.`, code: 'invalid_value' };
  }
  if (issue.code === 'invalid_value' && 'values' in issue) {
    return { message: `Invalid value for '${name}': expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}.`, code: 'invalid_value' };
  }
  if (issue.code === 'too_small' || issue.code === 'too_big') return bound(issue, name, input) ?? plain(issue, name);
  return plain(issue, name);
}

function plain(issue: z.core.$ZodIssue, name: string): Described {
  return { message: `Invalid value for '${name}': ${issue.message}`, code: 'invalid_value' };
}

/** A number, string or array outside its bounds, in OpenAI's words and codes. */
function bound(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig, name: string, input: unknown): Described | null {
  const small = issue.code === 'too_small';
  const limit = Number(small ? issue.minimum : issue.maximum);
  if (typeof input === 'number') {
    const kind = Number.isInteger(input) ? 'integer' : 'decimal';
    const op = small ? (issue.inclusive === false ? '>' : '>=') : issue.inclusive === false ? '<' : '<=';
    const where = small ? 'below minimum' : 'above maximum';
    return {
      message: `Invalid '${name}': ${kind} ${where} value. Expected a value ${op} ${limit}, but got ${input} instead.`,
      code: `${kind}_${small ? 'below_min' : 'above_max'}_value`,
    };
  }
  if (Array.isArray(input) && small && input.length === 0) {
    return { message: `Invalid '${name}': empty array. Expected an array with minimum length ${limit}, but got an empty array instead.`, code: 'empty_array' };
  }
  if (Array.isArray(input)) {
    const what = small ? 'array too short' : 'array too long';
    return { message: `Invalid '${name}': ${what}. Expected an array with ${small ? 'minimum' : 'maximum'} length ${limit}, but got an array with length ${input.length} instead.`, code: small ? 'array_below_min_length' : 'array_above_max_length' };
  }
  if (typeof input === 'string') {
    if (small && input.length === 0) return { message: `Invalid '${name}': empty string. Expected a string with minimum length ${limit}, but got an empty string instead.`, code: 'empty_string' };
    const what = small ? 'string too short' : 'string too long';
    return { message: `Invalid '${name}': ${what}. Expected a string with ${small ? 'minimum' : 'maximum'} length ${limit}, but got a string with length ${input.length} instead.`, code: small ? 'string_below_min_length' : 'string_above_max_length' };
  }
  return null;
}

/**
 * zod reports a failed union at the union, even when the input had exactly one option's type and only something
 * inside it is wrong (`content: [null]` is an array, just not of parts); that inner issue names what to fix.
 */
function narrowed(first: z.core.$ZodIssue): { issue: z.core.$ZodIssue; path: PropertyKey[] } {
  let issue = first;
  let path: PropertyKey[] = [...first.path];
  while (issue.code === 'invalid_union') {
    const inside = issue.errors.filter((option) => option.length > 0 && option.every((i) => i.path.length > 0));
    if (inside.length !== 1) break;
    issue = inside[0]![0]!;
    path = [...path, ...issue.path];
  }
  return { issue, path };
}

/**
 * Validates a parsed body against a loose schema; throws a 400 naming the parameter at fault. The body itself is
 * returned (not zod's copy), so unknown fields stay as the client sent them.
 */
export function validateWith<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new GatewayError('invalid_request', 'The request body must be a JSON object.');
  }
  const result = schema.safeParse(body);
  if (result.success) return body as T;
  const { issue, path } = narrowed(result.error.issues[0]!);
  const param = paramOf(path);
  const input = valueAt(body, path);
  const { message, code } = describe(issue, param, input);
  throw new GatewayError('invalid_request', message, { param, wireCode: code });
}

/**
 * A family's body validated, the model it names recorded on the request first: a body refused for another field
 * still says in its usage row which model it was for, as the chat, completions and embeddings routes' rows do.
 */
export function validateNamed<T>(schema: z.ZodType<T>, body: unknown, ctx: Pick<RequestCtx, 'requestedModel'>): T {
  ctx.requestedModel = modelNamed(body);
  return validateWith(schema, body);
}

/**
 * Validates a parsed body for an endpoint; throws a 400 naming the parameter at fault. The message count is checked
 * first, so a body of half a million messages costs one length read, not a validation of each.
 */
export function validateRequest(endpoint: OpenAIEndpoint, body: unknown, maxMessages = Number.POSITIVE_INFINITY): WireRequest {
  if (endpoint === 'chat' && body !== null && typeof body === 'object') {
    const messages = (body as { messages?: unknown }).messages;
    if (Array.isArray(messages) && messages.length > maxMessages) {
      throw new GatewayError('invalid_request', `Invalid value for 'messages': at most ${maxMessages} messages are accepted (server.max_messages), got ${messages.length}.`, {
        param: 'messages',
        wireCode: 'too_many_messages',
      });
    }
  }
  if (body !== null && typeof body === 'object' && !Array.isArray(body) && ACCEPTED[endpoint](body as Record<string, unknown>)) return body as WireRequest;
  return validateWith<WireRequest>(SCHEMAS[endpoint] as z.ZodType<WireRequest>, body);
}
