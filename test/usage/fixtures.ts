import type { UsageRow } from '../../src/usage/index.js';

export const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);

export function row(overrides: Partial<UsageRow> = {}): UsageRow {
  return {
    id: 'req_1',
    timeMs: T0,
    subject: 'alice',
    team: 'research',
    keyId: null,
    requestedModel: 'llama',
    upstreamModel: 'meta-llama/Llama-3.1-8B',
    backend: 'http://vllm-0:8000',
    endpoint: 'chat',
    stream: true,
    status: 200,
    errorCode: null,
    promptTokens: 10,
    completionTokens: 20,
    cachedTokens: 0,
    tokenSource: 'backend',
    ttftMs: 50,
    latencyMs: 100,
    ...overrides,
  };
}
