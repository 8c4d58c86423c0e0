/**
 * Deterministic tool calling. With `tools` present:
 * - `tool_choice: "none"` never calls;
 * - `"required"` calls the first tool;
 * - `{"type":"function","function":{"name":X}}` calls X;
 * - `"auto"` (the default) calls the first tool, in the order given, whose name appears in the last user message;
 *   otherwise the model answers with text.
 * Arguments are a JSON object built from the tool's `parameters` schema: strings "x" (or the first enum value),
 * numbers and integers 1, booleans true, arrays of one item, nested objects filled the same way.
 */

export interface ToolSpec {
  name: string;
  parameters: unknown;
}

function toolsOf(tools: readonly unknown[]): ToolSpec[] {
  const out: ToolSpec[] = [];
  for (const t of tools) {
    if (!t || typeof t !== 'object') continue;
    const fn = (t as Record<string, unknown>)['function'];
    if (!fn || typeof fn !== 'object') continue;
    const name = (fn as Record<string, unknown>)['name'];
    if (typeof name === 'string') out.push({ name, parameters: (fn as Record<string, unknown>)['parameters'] });
  }
  return out;
}

export function chooseTool(tools: readonly unknown[] | undefined, toolChoice: unknown, lastUserText: string): ToolSpec | null {
  if (!tools || tools.length === 0 || toolChoice === 'none') return null;
  const specs = toolsOf(tools);
  if (toolChoice === 'required') return specs[0] ?? null;
  if (toolChoice && typeof toolChoice === 'object') {
    const fn = (toolChoice as Record<string, unknown>)['function'];
    const name = fn && typeof fn === 'object' ? (fn as Record<string, unknown>)['name'] : undefined;
    return specs.find((s) => s.name === name) ?? null;
  }
  return specs.find((s) => lastUserText.includes(s.name)) ?? null;
}

const isRecord = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** A local `$ref` (`#/$defs/X`, `#/definitions/X`, `#`) resolved against the root schema. */
function resolveRef(root: unknown, ref: string): unknown {
  if (ref !== '#' && !ref.startsWith('#/')) return undefined;
  let target: unknown = root;
  for (const part of ref === '#' ? [] : ref.slice(2).split('/')) target = isRecord(target) ? target[part.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
  return target;
}

/** Values of the string formats the SDKs' schemas use (pydantic's datetime, EmailStr, UUID, AnyUrl, ...). */
const FORMATS: Record<string, string> = {
  'date-time': '2025-01-01T00:00:00Z',
  date: '2025-01-01',
  time: '00:00:00Z',
  duration: 'P1D',
  email: 'x@example.com',
  hostname: 'example.com',
  ipv4: '127.0.0.1',
  ipv6: '::1',
  uri: 'https://example.com',
  uuid: '00000000-0000-4000-8000-000000000000',
};

function sampleString(s: Record<string, unknown>): string {
  let v = (typeof s['format'] === 'string' ? FORMATS[s['format']] : undefined) ?? 'x';
  if (typeof s['minLength'] === 'number' && v.length < s['minLength']) v = v.padEnd(s['minLength'], 'x');
  if (typeof s['maxLength'] === 'number' && v.length > s['maxLength']) v = v.slice(0, Math.max(0, s['maxLength']));
  return v;
}

function sampleNumber(s: Record<string, unknown>, integer: boolean): number {
  const num = (k: string) => (typeof s[k] === 'number' ? (s[k] as number) : null);
  const [min, exMin, max, exMax] = [num('minimum'), num('exclusiveMinimum'), num('maximum'), num('exclusiveMaximum')];
  let v = 1;
  if (min !== null && v < min) v = integer ? Math.ceil(min) : min;
  if (exMin !== null && v <= exMin) v = integer ? Math.floor(exMin) + 1 : exMin + 1;
  if (max !== null && v > max) v = integer ? Math.floor(max) : max;
  if (exMax !== null && v >= exMax) v = integer ? Math.ceil(exMax) - 1 : exMin !== null ? (exMin + exMax) / 2 : exMax - 1;
  return v;
}

/**
 * A value that satisfies a JSON schema, as guided decoding would produce one: local `$ref`s resolved, `allOf` merged,
 * the common bounds met (minimum, minLength, minItems, formats such as date-time); `pattern` is not. Arrays are empty
 * once deep, so a schema that recurses through a list ends there.
 */
export function sampleFromSchema(schema: unknown, depth = 0, root: unknown = schema): unknown {
  if (!isRecord(schema) || depth > 32) return null;
  const s = schema;
  if (typeof s['$ref'] === 'string') {
    const target = resolveRef(root, s['$ref']);
    return target === undefined ? {} : sampleFromSchema(target, depth + 1, root);
  }
  if (Array.isArray(s['enum']) && s['enum'].length > 0) return s['enum'][0];
  if ('const' in s) return s['const'];
  const all = s['allOf'];
  if (Array.isArray(all) && all.length > 0) {
    const parts = all.map((p) => sampleFromSchema(p, depth + 1, root));
    return parts.every(isRecord) ? Object.assign({}, ...parts) : parts[0];
  }
  for (const key of ['anyOf', 'oneOf']) {
    const alts = s[key];
    if (!Array.isArray(alts) || alts.length === 0) continue;
    // Deep in a schema that recurses through a nullable field, null ends it.
    const end = depth > 8 ? alts.find((a) => isRecord(a) && a['type'] === 'null') : undefined;
    return sampleFromSchema(end ?? alts[0], depth + 1, root);
  }
  const type = Array.isArray(s['type']) ? s['type'][0] : s['type'];
  switch (type) {
    case 'string':
      return sampleString(s);
    case 'number':
    case 'integer':
      return sampleNumber(s, type === 'integer');
    case 'boolean':
      return true;
    case 'null':
      return null;
    case 'array': {
      const prefix = Array.isArray(s['prefixItems']) ? (s['prefixItems'] as unknown[]) : [];
      const min = typeof s['minItems'] === 'number' ? s['minItems'] : 0;
      const max = typeof s['maxItems'] === 'number' ? s['maxItems'] : Number.POSITIVE_INFINITY;
      const n = Math.min(max, Math.max(min, prefix.length, depth > 8 ? 0 : 1));
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) out.push(sampleFromSchema(i < prefix.length ? prefix[i] : s['items'], depth + 1, root));
      return out;
    }
    default: {
      const props = s['properties'];
      const out: Record<string, unknown> = {};
      if (isRecord(props)) {
        for (const [k, v] of Object.entries(props)) out[k] = sampleFromSchema(v, depth + 1, root);
      }
      return out;
    }
  }
}

/** JSON text cut into fragments of a few characters, each one streamed as a token (tool arguments, guided answers). */
export function jsonPieces(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += 6) out.push(text.slice(i, i + 6));
  return out;
}

/** The JSON arguments string of a call to the tool. */
export function toolArguments(tool: ToolSpec): string {
  return JSON.stringify(sampleFromSchema(tool.parameters ?? { type: 'object' }) ?? {});
}
