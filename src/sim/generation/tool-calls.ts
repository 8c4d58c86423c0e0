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

/** A value that satisfies a (simple) JSON schema; depth-limited against self-referencing schemas. */
export function sampleFromSchema(schema: unknown, depth = 0): unknown {
  if (!schema || typeof schema !== 'object' || depth > 6) return null;
  const s = schema as Record<string, unknown>;
  if (Array.isArray(s['enum']) && s['enum'].length > 0) return s['enum'][0];
  if ('const' in s) return s['const'];
  for (const key of ['anyOf', 'oneOf', 'allOf']) {
    const alts = s[key];
    if (Array.isArray(alts) && alts.length > 0) return sampleFromSchema(alts[0], depth + 1);
  }
  const type = Array.isArray(s['type']) ? s['type'][0] : s['type'];
  switch (type) {
    case 'string':
      return 'x';
    case 'number':
    case 'integer':
      return 1;
    case 'boolean':
      return true;
    case 'null':
      return null;
    case 'array':
      return [sampleFromSchema(s['items'], depth + 1)];
    default: {
      const props = s['properties'];
      const out: Record<string, unknown> = {};
      if (props && typeof props === 'object') {
        for (const [k, v] of Object.entries(props as Record<string, unknown>)) out[k] = sampleFromSchema(v, depth + 1);
      }
      return out;
    }
  }
}

/** The JSON arguments string, cut into fragments of a few characters (each one streamed as a token). */
export function toolArgumentFragments(tool: ToolSpec): string[] {
  const args = JSON.stringify(sampleFromSchema(tool.parameters ?? { type: 'object' }) ?? {});
  const out: string[] = [];
  for (let i = 0; i < args.length; i += 6) out.push(args.slice(i, i + 6));
  return out;
}
