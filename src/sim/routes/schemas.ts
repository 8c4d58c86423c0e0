/**
 * Loose request schemas: only the fields the simulator acts on are typed; everything else (vendor extras) is allowed
 * and ignored, as real engines ignore what they do not know.
 */
import { z } from 'zod';
import { SimHttpError } from '../personality/errors.js';

const StreamOptions = z.looseObject({
  include_usage: z.boolean().nullish(),
  continuous_usage_stats: z.boolean().nullish(),
});

const common = {
  model: z.string().nullish(),
  stream: z.boolean().nullish(),
  stream_options: StreamOptions.nullish(),
  n: z.int().min(1).max(128).nullish(),
  max_tokens: z.int().min(1).nullish(),
  min_tokens: z.int().min(0).nullish(),
  ignore_eos: z.boolean().nullish(),
  stop: z.union([z.string(), z.array(z.string())]).nullish(),
  seed: z.number().nullish(),
  // Sampling parameters, typed and bounded as vLLM's request models and SamplingParams check them, so a client's
  // mistake gets the 400 a real engine gives rather than an answer.
  temperature: z.number().min(0).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  top_k: z.int().min(-1).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  repetition_penalty: z.number().gt(0).nullish(),
  logit_bias: z.record(z.string(), z.number()).nullish(),
  user: z.string().nullish(),
  sim_fault: z.unknown().optional(),
};

/**
 * Messages, content parts and tools as vLLM's request models type them: a part is an object (or a bare string, which
 * vLLM takes as text), a tool is `{type?, function: {name, ...}}`. A client's `null` in either is vLLM's 400, never
 * something for the template renderer to find.
 */
const ChatMessage = z.looseObject({
  role: z.string(),
  content: z.union([z.string(), z.array(z.union([z.string(), z.looseObject({})])), z.null()]).optional(),
});
const ChatTool = z.looseObject({ type: z.string().optional(), function: z.looseObject({ name: z.string() }) });

export const ChatRequest = z.looseObject({
  ...common,
  messages: z.array(ChatMessage).min(1),
  max_completion_tokens: z.int().min(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.int().min(0).max(20).nullish(),
  tools: z.array(ChatTool).nullish(),
  tool_choice: z.unknown().optional(),
});
export type ChatRequest = z.infer<typeof ChatRequest>;

const TokenIds = z.array(z.int().min(0)).min(1);

export const CompletionRequest = z.looseObject({
  ...common,
  prompt: z.union([z.string(), z.array(z.string()).min(1), TokenIds, z.array(TokenIds).min(1)]),
  logprobs: z.int().min(0).max(20).nullish(),
  echo: z.boolean().nullish(),
});
export type CompletionRequest = z.infer<typeof CompletionRequest>;

export const EmbeddingRequest = z.looseObject({
  model: z.string().nullish(),
  input: z.union([z.string(), z.array(z.string()).min(1), TokenIds, z.array(TokenIds).min(1)]),
  encoding_format: z.enum(['float', 'base64']).nullish(),
  dimensions: z.int().min(1).nullish(),
  sim_fault: z.unknown().optional(),
});
export type EmbeddingRequest = z.infer<typeof EmbeddingRequest>;

export const TokenizeRequest = z.looseObject({
  model: z.string().nullish(),
  prompt: z.string().optional(),
  messages: z.array(ChatMessage).optional(),
  return_token_strs: z.boolean().nullish(),
});

/** Parses or throws a 400 naming the first offending field (`param`), as vLLM's validation errors do. */
export function parseRequest<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const param = issue && issue.path.length ? issue.path.map(String).join('.') : null;
  const what = issue ? issue.message : 'invalid request';
  throw new SimHttpError(400, param ? `${param}: ${what}` : what, param);
}

export const DetokenizeRequest = z.looseObject({ model: z.string().nullish(), tokens: z.array(z.int().min(0)) });

const DocText = z.union([z.string(), z.looseObject({ text: z.string() })]);
export const RerankRequest = z.looseObject({
  model: z.string().nullish(),
  query: z.string(),
  documents: z.array(DocText).min(1),
  top_n: z.int().min(0).nullish(),
  return_documents: z.boolean().nullish(),
});

const TextOrList = z.union([z.string(), z.array(z.string()).min(1)]);
export const ScoreRequest = z.looseObject({ model: z.string().nullish(), text_1: TextOrList, text_2: TextOrList });
