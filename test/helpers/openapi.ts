import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { parse } from 'yaml';
import type { ValidateFunction } from 'ajv';
import type Ajv2020Type from 'ajv/dist/2020.js';
import type addFormatsType from 'ajv-formats';

// ajv and ajv-formats are CommonJS whose default export TypeScript's NodeNext typing cannot see; require them.
const require = createRequire(import.meta.url);
const Ajv2020 = (require('ajv/dist/2020') as { default: typeof Ajv2020Type.default }).default;
const addFormats = (require('ajv-formats') as { default: typeof addFormatsType.default }).default;

const SPEC_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/openai/openapi.yaml');
const ID = 'https://infergate.test/openai.json';

/**
 * OpenAPI 3.0's `nullable: true` is not JSON Schema: where the node has a `type`, null is added to the type (and
 * to its enum); where it has none, it allows anything already and is dropped (the spec's README documents this).
 */
function strip(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strip);
  if (node && typeof node === 'object') {
    const src = node as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(src)) {
      if (k === 'nullable' || k === 'x-oaiMeta' || k === 'discriminator' || k === 'example' || k === 'examples') continue;
      out[k] = strip(v);
    }
    if (src.nullable === true && typeof src.type === 'string') {
      out.type = [src.type, 'null'];
      if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    }
    return out;
  }
  return node;
}

let ajv: InstanceType<typeof Ajv2020> | null = null;
const cache = new Map<string, ValidateFunction>();

function instance(): InstanceType<typeof Ajv2020> {
  if (ajv) return ajv;
  const spec = parse(readFileSync(SPEC_PATH, 'utf8')) as { components: unknown };
  ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  ajv.addFormat('unixtime', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= 0 });
  ajv.addSchema({ $id: ID, components: strip(spec.components) });
  return ajv;
}

/** Asserts that `value` matches the named schema of OpenAI's spec; throws with ajv's errors otherwise. */
export function assertMatchesSpec(schema: string, value: unknown): void {
  let validate = cache.get(schema);
  if (!validate) {
    validate = instance().getSchema(`${ID}#/components/schemas/${schema}`);
    if (!validate) throw new Error(`no schema ${schema} in the OpenAI spec`);
    cache.set(schema, validate);
  }
  if (!validate(value)) {
    throw new Error(`response does not match OpenAI's ${schema}: ${JSON.stringify(validate.errors?.slice(0, 5), null, 1)}\nvalue: ${JSON.stringify(value).slice(0, 800)}`);
  }
}
