/**
 * For backends that only return float embeddings: the gateway asks for floats and encodes each vector as OpenAI's
 * base64 format (little-endian float32), so the SDK's default `encoding_format: "base64"` decodes correct vectors.
 */
export function floatsToBase64(body: Buffer): Buffer {
  const doc = JSON.parse(body.toString('utf8')) as { data?: Array<{ embedding?: unknown }> };
  if (!Array.isArray(doc.data)) return body;
  for (const item of doc.data) {
    const v = item.embedding;
    if (!Array.isArray(v)) continue;
    const bytes = Buffer.allocUnsafe(v.length * 4);
    for (let i = 0; i < v.length; i++) bytes.writeFloatLE(Number(v[i]), i * 4);
    item.embedding = bytes.toString('base64');
  }
  return Buffer.from(JSON.stringify(doc), 'utf8');
}

const FLOAT_VECTOR = /"embedding"\s*:\s*\[/;

/** Whether an embeddings body carries float arrays (looked at in its first vector only: engines answer in one format). */
export function hasFloatEmbeddings(body: Buffer): boolean {
  const at = body.indexOf('"embedding"');
  return at !== -1 && FLOAT_VECTOR.test(body.toString('latin1', at, Math.min(body.length, at + 64)));
}
