import type { UsageRow } from '../../src/usage/index.js';
import { row, T0 } from './fixtures.js';

/** A varied row n: ten subjects in three teams, keys, three models, errors, missing TTFTs, times over two days. */
export function variedRow(n: number, base = T0): UsageRow {
  const s = n % 10;
  return row({
    id: `v${n}`,
    timeMs: base + ((n * 7919) % (2 * 86_400_000)),
    subject: `user-${s}`,
    team: s % 3 === 0 ? null : `team-${s % 3}`,
    keyId: s % 2 ? `key_${s}` : null,
    requestedModel: `model-${n % 3}`,
    upstreamModel: `up-${n % 3}`,
    backend: `http://b${n % 4}:8000`,
    endpoint: n % 5 ? 'chat' : 'embeddings',
    status: n % 17 === 0 ? 502 : n % 13 === 0 ? 429 : 200,
    errorCode: n % 17 === 0 ? 'upstream_error' : null,
    promptTokens: n % 97,
    completionTokens: (n * 3) % 101,
    cachedTokens: n % 7,
    ttftMs: n % 4 ? (n % 500) + 1 : null,
    latencyMs: ((n * 31) % 5000) + 0.5,
  });
}
