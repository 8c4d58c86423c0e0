import { z } from 'zod';
import { GatewayError } from '../core/index.js';

/**
 * Loose schemas for the fields the gateway routes on. Everything else, vendor extras included, is not looked at
 * here and reaches the backend byte for byte. Backends validate the rest with their own rules.
 */
const optionalInt = z.number().int().nonnegative().nullish();
const sessionFields = {
  user: z.string().nullish(),
  prompt_cache_key: z.string().nullish(),
};
const streamFields = {
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
};

const tokenArray = z.array(z.number().int());
const message = z.looseObject({
  role: z.string().min(1),
  content: z.union([z.string(), z.array(z.unknown()), z.null()]).optional(),
});

export const chatRequest = z.looseObject({
  model: z.string().min(1),
  messages: z.array(message).min(1, 'messages must contain at least one message'),
  max_tokens: optionalInt,
  max_completion_tokens: optionalInt,
  tools: z.array(z.unknown()).nullish(),
  ...streamFields,
  ...sessionFields,
});

export const completionRequest = z.looseObject({
  model: z.string().min(1),
  prompt: z.union([z.string(), z.array(z.string()), tokenArray, z.array(tokenArray)]),
  max_tokens: optionalInt,
  ...streamFields,
  ...sessionFields,
});

export const embeddingRequest = z.looseObject({
  model: z.string().min(1),
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

function paramOf(path: readonly PropertyKey[]): string | null {
  if (path.length === 0) return null;
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${String(seg)}` : String(seg);
  return out;
}

function describe(issue: z.core.$ZodIssue, param: string | null): string {
  const name = param ?? 'body';
  if (issue.code === 'invalid_type') {
    const input = (issue as { input?: unknown }).input;
    if (input === undefined) return `Missing required parameter: '${name}'.`;
    return `Invalid type for '${name}': expected ${issue.expected}, but got ${input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input}.`;
  }
  if (issue.code === 'invalid_union') return `Invalid value for '${name}': it has the wrong shape for this endpoint.`;
  if (issue.code === 'invalid_value' && 'values' in issue) {
    return `Invalid value for '${name}': expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}.`;
  }
  return `Invalid value for '${name}': ${issue.message}`;
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
  const issue = result.error.issues[0]!;
  const param = paramOf(issue.path);
  throw new GatewayError('invalid_request', describe(issue, param), { param, wireCode: issue.code === 'invalid_type' && (issue as { input?: unknown }).input === undefined ? 'missing_required_parameter' : 'invalid_value' });
}

/** Validates a parsed body for an endpoint; throws a 400 naming the parameter at fault. */
export function validateRequest(endpoint: OpenAIEndpoint, body: unknown): WireRequest {
  return validateWith<WireRequest>(SCHEMAS[endpoint] as z.ZodType<WireRequest>, body);
}
