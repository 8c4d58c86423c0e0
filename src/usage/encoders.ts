import { createRequire } from 'node:module';
import type { Tiktoken } from 'tiktoken';

// tiktoken (its WASM module, ~10 MB resident) is loaded on the first exact count, not at import: a gateway whose
// models all have their own tokenizers (the quick start's Llama) never needs it.
const load = createRequire(import.meta.url);

export type EncodingName = 'cl100k_base' | 'o200k_base';

// Creating an encoder parses a large BPE table (~50–200 ms): each is created once per process, on first use.
const encoders = new Map<EncodingName, Tiktoken>();

export function getEncoder(name: EncodingName): Tiktoken {
  let enc = encoders.get(name);
  if (!enc) {
    enc = (load('tiktoken') as typeof import('tiktoken')).get_encoding(name);
    encoders.set(name, enc);
  }
  return enc;
}

/** The encodings this process has loaded so far. */
export function loadedEncodings(): EncodingName[] {
  return [...encoders.keys()];
}

/** Tokens in `text` as plain text: special-token markers a user typed are counted as text, never rejected. */
export function encodeLength(name: EncodingName, text: string): number {
  return text.length === 0 ? 0 : getEncoder(name).encode_ordinary(text).length;
}

const O200K = /^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|chatgpt-4o|o1|o3|o4|gpt-oss)/;
const CL100K = /^(gpt-4|gpt-3\.5|gpt-35|text-embedding-3|text-embedding-ada-002)/;

/**
 * The OpenAI encoding a model name uses, or null for models with their own tokenizer (Llama, Qwen, Mistral...),
 * which are estimated from a learned chars-per-token ratio instead of being mis-counted with a foreign vocabulary.
 * A path prefix (`openai/gpt-4o`) is ignored.
 */
export function encodingForModel(model: string): EncodingName | null {
  const name = model.slice(model.lastIndexOf('/') + 1).toLowerCase();
  if (O200K.test(name)) return 'o200k_base';
  if (CL100K.test(name)) return 'cl100k_base';
  return null;
}
