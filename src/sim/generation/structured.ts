/**
 * Structured outputs, as an engine's guided decoding gives them: with `response_format` `json_schema` (or vLLM's
 * `guided_json` / `structured_outputs.json`, or the Responses API's `text.format`) the answer is a JSON value that
 * satisfies the schema, with `json_object` a JSON object; the SDKs' parse helpers then read it. Values are the
 * deterministic samples tool arguments use.
 */
import { sampleFromSchema } from './tool-calls.js';

const record = (v: unknown): Record<string, unknown> | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null);

/**
 * The JSON text a request's structured-output constraint asks for, or null when it has none: chat and completions'
 * `response_format` (`json_schema`, `json_object`), vLLM's `guided_json` and `structured_outputs.json`, and the
 * Responses API's `text.format` (the schema sits in the format itself there). Local `$ref`s (`#/$defs/X`, as the SDKs'
 * helpers emit them) are resolved by the sampler.
 */
export function structuredAnswer(body: Record<string, unknown>): string | null {
  const format = record(body['response_format']) ?? record(record(body['text'])?.['format']);
  let schema: unknown = null;
  if (format?.['type'] === 'json_schema') schema = (format['schema'] !== undefined ? record(format['schema']) : record(format['json_schema'])?.['schema']) ?? { type: 'object' };
  else if (format?.['type'] === 'json_object') schema = { type: 'object' };
  else if (body['guided_json'] !== undefined && body['guided_json'] !== null) schema = body['guided_json'];
  else if (record(body['structured_outputs'])?.['json'] !== undefined) schema = record(body['structured_outputs'])!['json'];
  if (schema === null) return null;
  if (typeof schema === 'string') {
    try {
      schema = JSON.parse(schema);
    } catch {
      schema = { type: 'object' };
    }
  }
  return JSON.stringify(sampleFromSchema(schema) ?? {});
}
