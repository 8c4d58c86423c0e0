/**
 * POST /v1/embeddings — deterministic unit-length vectors seeded by the input, as floats or (when the instance
 * supports it) base64 of little-endian float32, which is what the OpenAI SDKs ask for by default.
 */
import type { SimContext } from '../context.js';
import { mergeFaults, normalizeFault } from '../faults.js';
import { runPreamble } from '../http/fault-preamble.js';
import { sendJson } from '../http/io.js';
import { SimHttpError } from '../personality/errors.js';
import { createRandom, hashInts, mixSeeds } from '../text/hash.js';
import { promptTokenLists } from './completions.js';
import { checkModel, type RouteRequest } from './generate-common.js';
import { EmbeddingRequest, parseRequest } from './schemas.js';

/** Values are rounded to float32 so that the float and base64 forms carry exactly the same numbers. */
export function embeddingVector(seed: number, tokenIds: readonly number[], dim: number): Float32Array {
  const rnd = createRandom(mixSeeds(seed, hashInts(tokenIds), dim));
  const v = new Float32Array(dim);
  let norm = 0;
  for (let i = 0; i < dim; i++) {
    // Sum of uniforms: roughly normal, so directions are spread over the sphere.
    const x = rnd() + rnd() + rnd() - 1.5;
    v[i] = x;
    norm += x * x;
  }
  const inv = norm > 0 ? 1 / Math.sqrt(norm) : 1;
  for (let i = 0; i < dim; i++) v[i] = (v[i] as number) * inv;
  return v;
}

export function float32ToBase64(v: Float32Array): string {
  const buf = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i] as number, i * 4);
  return buf.toString('base64');
}

export function handleEmbeddings(ctx: SimContext, rr: RouteRequest): void {
  const b = parseRequest(EmbeddingRequest, rr.body);
  const model = checkModel(ctx, b.model);
  const base64 = b.encoding_format === 'base64';
  if (base64 && !ctx.base64Embeddings) {
    throw new SimHttpError(400, 'encoding_format "base64" is not supported; use "float".', 'encoding_format');
  }
  const dim = b.dimensions ?? ctx.embeddingDim;
  if (dim > ctx.embeddingDim) {
    throw new SimHttpError(400, `dimensions must be at most ${ctx.embeddingDim}.`, 'dimensions');
  }
  const inputs = promptTokenLists(b.input);
  let promptTokens = 0;
  const data = inputs.map((ids, index) => {
    promptTokens += ids.length;
    const v = embeddingVector(ctx.seed, ids, dim);
    return { index, object: 'embedding', embedding: base64 ? float32ToBase64(v) : Array.from(v) };
  });
  const body = JSON.stringify({
    id: ctx.nextId('embd'),
    object: 'list',
    created: Math.floor(Date.now() / 1000),
    model,
    data,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens, completion_tokens: 0 },
  });
  const fault = mergeFaults(rr.serverFault, normalizeFault(b.sim_fault), rr.headerFault);
  runPreamble(fault, rr.res, ctx.personality, () => sendJson(rr.res, 200, body));
}
