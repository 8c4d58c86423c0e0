import { readFile } from 'node:fs/promises';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';
import { substituteEnv, type SubstitutionError } from './env.js';

/** One problem in a config file, located so an admin can jump to it. */
export interface ConfigProblem {
  file: string;
  /** YAML path such as `models[0].backends[1].url`. */
  path: string;
  line: number;
  column: number;
  message: string;
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.path || '(root)'}: ${p.message}`;
}

/** A failed load's problems as lines (the log's and the console's `last reload error`). */
export function problemLines(err: unknown): string[] {
  return err instanceof ConfigError ? err.problems.map(formatProblem) : [String(err)];
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

/** Finds the deepest YAML node along `path` (the key node for an unknown key) and returns its 1-based position. */
function locate(doc: Document, lc: LineCounter, path: readonly PropertyKey[], unknownKey?: string): { line: number; column: number } {
  let node: unknown = doc.contents;
  let offset = (doc.contents as Node | null)?.range?.[0] ?? 0;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === seg);
      if (!pair) break;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value;
      if ((node as Node | null)?.range) offset = (node as Node).range![0];
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (!item) break;
      node = item;
      if ((node as Node).range) offset = (node as Node).range![0];
    } else break;
  }
  if (unknownKey !== undefined && isMap(node)) {
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === unknownKey);
    if (pair && (pair.key as Node).range) offset = (pair.key as Node).range![0];
  }
  const { line, col } = lc.linePos(offset);
  return { line, column: col };
}

/** What was given, in the words of a YAML author: `a list`, `a mapping`, or the scalar itself (`2.5`, `"yes"`, `true`). */
function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing (required)';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return JSON.stringify(typeof value === 'string' && value.length > 60 ? `${value.slice(0, 60)}…` : value);
}

/** A zod type name in a YAML author's words. */
function describeExpected(expected: string): string {
  return expected === 'array' ? 'a list' : expected === 'object' ? 'a mapping' : expected;
}

/**
 * What a union key (`"auto"` or an integer, a string or a list, false or a mapping) accepts, from the branches' own
 * refusals of the value's type; null when a branch refused something deeper than the type (its issues say more).
 */
function unionExpected(errors: readonly (readonly z.core.$ZodIssue[])[]): string | null {
  const alternatives = new Set<string>();
  for (const branch of errors) {
    const top = branch.length === 1 && branch[0]!.path.length === 0 ? branch[0]! : null;
    if (top?.code === 'invalid_type') alternatives.add(describeExpected(top.expected));
    else if (top?.code === 'invalid_value' && 'values' in top) for (const v of top.values) alternatives.add(JSON.stringify(v));
    else return null;
  }
  return alternatives.size ? [...alternatives].join(' or ') : null;
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') return `expected ${issue.expected}, got ${describeValue((issue as { input?: unknown }).input)}`;
  if (issue.code === 'invalid_union' && issue.errors.length) {
    const expected = unionExpected(issue.errors);
    if (expected) return `expected ${expected}, got ${describeValue((issue as { input?: unknown }).input)}`;
  }
  if (issue.code === 'invalid_value' && 'values' in issue) {
    // What came, as for a wrong type: a key left out reads "got nothing (required)", not as a value refused.
    return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue((issue as { input?: unknown }).input)}`;
  }
  return issue.message;
}

/** Parses, substitutes `${ENV}` and validates YAML text. Throws ConfigError listing every problem with its location. */
export function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const lc = new LineCounter();
  // Merge keys (`<<: *defaults`, YAML 1.1, as Kubernetes and Compose files use them): no schema key is `<<`, so reading
  // them as merges changes no config that loaded without them; the alias bound below still holds.
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, merge: true });
  const problems: ConfigProblem[] = [];
  for (const err of doc.errors) {
    // With prettyErrors off the parser leaves linePos empty; its offset is always there, so locate it ourselves.
    const pos = err.linePos?.[0] ?? lc.linePos(err.pos[0]);
    problems.push({ file, path: '', line: pos.line, column: pos.col, message: `YAML syntax: ${err.message.split('\n')[0]}` });
  }
  if (problems.length) throw new ConfigError(problems);

  const raw = doc.toJS({ maxAliasCount: 100 }) ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([{ file, path: '', line: 1, column: 1, message: 'expected a mapping at the top level' }]);
  }
  const subErrors: SubstitutionError[] = [];
  // A quoted scalar (`"${VAR}"`) is a string by the author's choice and stays one after substitution.
  const quoted = (path: readonly (string | number)[]): boolean => {
    const node = doc.getIn(path, true);
    return isScalar(node) && node.type !== undefined && node.type !== 'PLAIN';
  };
  const substituted = substituteEnv(raw, env, subErrors, [], quoted);
  for (const e of subErrors) problems.push({ file, path: formatPath(e.path), ...locate(doc, lc, e.path), message: e.message });
  if (problems.length) throw new ConfigError(problems);

  // reportInput: issues carry the offending value, so a wrong type reads "expected number, got "abc"".
  const result = configSchema.safeParse(substituted, { reportInput: true });
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        problems.push({ file, path: formatPath([...issue.path, key]), ...locate(doc, lc, issue.path, key), message: `unknown key "${key}"` });
      }
      continue;
    }
    problems.push({ file, path: formatPath(issue.path), ...locate(doc, lc, issue.path), message: issueMessage(issue) });
  }
  throw new ConfigError(problems);
}

export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new ConfigError([{ file, path: '', line: 0, column: 0, message: reason }]);
  }
  return parseConfigText(text, file, env);
}
