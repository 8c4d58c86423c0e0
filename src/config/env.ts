/**
 * `${VAR}` and `${VAR:-default}` substitution inside YAML string scalars. It runs on parsed values, not on the raw
 * text, so line numbers in errors stay true and a value cannot inject YAML structure.
 */
const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE_REF = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

export interface SubstitutionError {
  path: (string | number)[];
  message: string;
}

export function substituteEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  errors: SubstitutionError[],
  path: (string | number)[] = [],
  quoted: (path: readonly (string | number)[]) => boolean = () => false,
): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    const missing = new Set<string>();
    const out = value.replace(REF, (_m, name: string, def: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (def !== undefined) return def;
      // Once per variable per value ("http://${HOST}:${PORT}/${HOST}" names HOST once); an operator who finds the
      // variable exported but empty is told so, not that it is unset.
      if (!missing.has(name)) {
        missing.add(name);
        const state = v === undefined ? 'is not set' : 'is set but empty';
        errors.push({ path, message: `environment variable ${name} ${state} (use \${${name}:-default} for a default)` });
      }
      return '';
    });
    // A plain (unquoted) value that is a single reference takes the type its text reads as, so `port: ${PORT}` is a
    // number; a quoted one stays text, so an all-digit secret in `secret: "${SECRET}"` is still a string.
    if (WHOLE_REF.test(value) && !quoted(path)) {
      if (/^-?\d+(\.\d+)?$/.test(out)) return Number(out);
      if (out === 'true' || out === 'false') return out === 'true';
    }
    return out;
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, errors, [...path, i], quoted));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substituteEnv(v, env, errors, [...path, k], quoted);
    return out;
  }
  return value;
}
