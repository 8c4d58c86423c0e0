/**
 * Structured outputs, as an engine's guided decoding gives them: with `response_format` `json_schema` (or vLLM's
 * `guided_json` / `structured_outputs.json`) the answer is a JSON value that satisfies the schema, with `json_object`
 * a JSON object; the SDKs' parse helpers then read it. Values are the deterministic samples tool arguments use.
 */
import { sampleFromSchema } from './tool-calls.js';

const record = (v: unknown): Record<string, unknown> | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null);

/** Resolves local `$ref`s (`#/$defs/X`, `#/definitions/X`) against the root schema, as the SDKs' helpers emit them. */
function inlineRefs(schema: unknown, root: unknown, depth = 0): unknown {
  if (!schema || typeof schema !== 'object' || depth > 8) return schema;
  if (Array.isArray(schema)) return schema.map((s) => inlineRefs(s, root, depth + 1));
  const s = schema as Record<string, unknown>;
  const ref = s['$ref'];
  if (typeof ref === 'string' && ref.startsWith('#/')) {
    let target: unknown = root;
    for (const part of ref.slice(2).split('/')) target = target && typeof target === 'object' ? (target as Record<string, unknown>)[part] : undefined;
    return inlineRefs(target, root, depth + 1);
  }
  const out: Record<string, unknown> = { ...s };
  for (const k of ['items', 'anyOf', 'oneOf', 'allOf']) if (k in s) out[k] = inlineRefs(s[k], root, depth + 1);
  const props = record(s['properties']);
  if (props) out['properties'] = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, inlineRefs(v, root, depth + 1)]));
  return out;
}

/** The JSON text a request's structured-output constraint asks for, or null when it has none. */
export function structuredAnswer(body: Record<string, unknown>): string | null {
  const format = record(body['response_format']);
  let schema: unknown = null;
  if (format?.['type'] === 'json_schema') schema = record(format['json_schema'])?.['schema'] ?? { type: 'object' };
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
  return JSON.stringify(sampleFromSchema(inlineRefs(schema, schema)) ?? {});
}

/** The answer cut into pieces of a few characters, one per output token. */
export function structuredPieces(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += 6) out.push(text.slice(i, i + 6));
  return out;
}
