/**
 * The JSON text of a value taken from a client's body, for prompt estimates and affinity keys, or '' when it has
 * none: `JSON.stringify` recurses, so a value nested a few thousand levels deep throws RangeError, and an estimate
 * must never be what fails a request.
 */
export function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}

/**
 * Whether a parsed JSON value nests at most `limit` levels (the value itself is level 1). Iterative, since a recursive
 * walk is what overflowed the stack, and it stops at the first value past the limit.
 */
export function depthWithin(root: unknown, limit: number): boolean {
  const stack: Array<[object, number]> = [];
  const push = (v: unknown, d: number) => {
    if (v !== null && typeof v === 'object') stack.push([v, d]);
  };
  push(root, 1);
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (d > limit) return false;
    if (Array.isArray(v)) for (const item of v) push(item, d + 1);
    else for (const k in v) push((v as Record<string, unknown>)[k], d + 1);
  }
  return true;
}


/**
 * A field that should be text, as text: a string as is, a number or boolean printed, anything else `fallback`.
 * `String(v)` is not safe on parsed JSON: an object whose `toString` is not a function (`{"toString": 1}`) throws.
 */
export function scalarText(v: unknown, fallback: string): string {
  if (typeof v === 'string') return v;
  return typeof v === 'number' || typeof v === 'boolean' ? String(v) : fallback;
}
