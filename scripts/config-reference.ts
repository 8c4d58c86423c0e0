/**
 * `npm run config:reference`: writes config/REFERENCE.md from the zod schema itself — every key the schema accepts,
 * with its type, default and the description given by `.describe()` — so the reference cannot drift from what the
 * loader accepts. `test/config/reference.test.ts` fails when the committed file is stale.
 */
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configSchema, sectionAlternatives } from '../src/config/index.js';

type Json = { [k: string]: unknown };

/** Milliseconds as the config would write them: the largest unit that divides exactly. */
function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

function formatBytes(n: number): string {
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) if (n % size === 0) return `${n / size}${unit}`;
  return String(n);
}

export const REFERENCE_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../config/REFERENCE.md');

/** zod's JSON Schema (input side), completed where JSON Schema cannot speak for zod. */
function jsonSchemaOf(schema: z.ZodType): Json {
  return z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      const def = (ctx.zodSchema as unknown as { _zod: { def: { type: string; defaultValue?: unknown } } })._zod.def;
      // Defaults of transformed values (durations, sizes) are left out of input schemas; the docs want them.
      if ((def.type === 'default' || def.type === 'prefault') && ctx.jsonSchema.default === undefined) ctx.jsonSchema.default = def.defaultValue;
      // `literal | object` sections validate through a custom step; document both alternatives.
      const alt = sectionAlternatives.get((ctx.zodSchema as unknown as { _zod: { def: object } })._zod.def);
      if (alt) {
        const { $schema: _, ...inner } = jsonSchemaOf(alt.schema);
        ctx.jsonSchema.anyOf = [{ const: alt.literal }, inner];
      }
    },
  }) as Json;
}

interface Row {
  path: string;
  type: string;
  default: string;
  description: string;
}

const objectAlternative = (s: Json): Json | undefined =>
  s.type === 'object' ? s : (s.anyOf as Json[] | undefined)?.find((a) => a.type === 'object' && a.properties);

function typeOf(s: Json): string {
  if (s.format === 'duration') return 'duration';
  if (s.format === 'listen') return '"host:port" \\| port';
  if (s.format === 'size') return 'size';
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (Array.isArray(s.anyOf)) return [...new Set((s.anyOf as Json[]).map(typeOf))].join(' \\| ');
  if (s.type === 'array') return `list of ${typeOf((s.items as Json | undefined) ?? {})}`;
  if (s.type === 'object') return s.properties ? 'mapping' : 'mapping of any';
  if (s.type === 'integer') return 'integer';
  if (typeof s.type === 'string') return s.type;
  return 'any';
}

function defaultOf(s: Json): string {
  if (s.default === undefined) return '';
  const v = s.default;
  if (s.format === 'duration' && typeof v === 'number') return `\`${formatDuration(v)}\``;
  if (s.format === 'size' && typeof v === 'number') return `\`${formatBytes(v)}\``;
  if (s.format === 'listen' && typeof v === 'object' && v !== null && 'port' in v) {
    const { host, port } = v as { host: string; port: number };
    return `\`${host.includes(':') ? `[${host}]` : host}:${port}\``;
  }
  if (typeof v === 'object' && v !== null && Object.keys(v).length === 0 && !Array.isArray(v)) return '';
  return `\`${JSON.stringify(v)}\``;
}

function walk(s: Json, path: string, rows: Row[]): void {
  const obj = objectAlternative(s);
  if (!obj?.properties) {
    const items = s.type === 'array' ? (s.items as Json | undefined) : undefined;
    if (items && objectAlternative(items)?.properties) walk(items, `${path}[]`, rows);
    return;
  }
  // A key the loader refuses to go without has no default to show: say so, or the reference reads as if it were optional.
  const required = new Set((obj.required as string[] | undefined) ?? []);
  for (const [key, child] of Object.entries(obj.properties as Record<string, Json>)) {
    const p = path ? `${path}.${key}` : key;
    const def = required.has(key) ? '**required**' : defaultOf(child);
    rows.push({ path: p, type: typeOf(child), default: def, description: String(child.description ?? '').replace(/\s+/g, ' ').trim() });
    walk(child, p, rows);
  }
}

/** Every key the schema accepts, in schema order. */
export function referenceRows(): Row[] {
  const rows: Row[] = [];
  walk(jsonSchemaOf(configSchema), '', rows);
  return rows;
}

export const UNDOCUMENTED = '*(no description: add `.describe()` to this key in src/config)*';

export function renderReference(): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [
    '# Configuration reference',
    '',
    'Generated from the zod schema in `src/config/` by `npm run config:reference`; do not edit by hand (a test fails',
    'when this file is stale). Durations read `250ms`, `2s`, `1m30s`, `10m`, `1h`, `7d` or milliseconds; sizes `16MiB`,',
    '`512KiB` or bytes. `[]` marks the entries of a list. Every mapping is strict: an unknown key is an error. A key',
    'whose default reads **required** cannot be left out where its section (or list entry) is written.',
    '',
    '| key | type | default | description |',
    '|---|---|---|---|',
  ];
  for (const r of referenceRows()) {
    lines.push(`| \`${r.path}\` | ${r.type} | ${r.default} | ${r.description ? cell(r.description) : UNDOCUMENTED} |`);
  }
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = renderReference();
  writeFileSync(REFERENCE_PATH, text);
  const missing = referenceRows().filter((r) => !r.description);
  process.stdout.write(`wrote ${REFERENCE_PATH} (${referenceRows().length} keys)\n`);
  if (missing.length) process.stderr.write(`keys without a description: ${missing.map((r) => r.path).join(', ')}\n`);
}
