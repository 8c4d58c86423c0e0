/**
 * OpenTelemetry semantic-convention names and advisory histogram buckets this module emits.
 *
 * Written out as strings rather than imported from `@opentelemetry/semantic-conventions/incubating`: the GenAI names
 * are still experimental there (they move between minor releases), and the incubating entry point is a large module
 * to load for a dozen strings. Source: OTel GenAI semantic conventions (gen-ai-spans.md, gen-ai-metrics.md).
 */

export const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
export const ATTR_GEN_AI_PROVIDER_NAME = 'gen_ai.provider.name';
export const ATTR_GEN_AI_REQUEST_MODEL = 'gen_ai.request.model';
export const ATTR_GEN_AI_REQUEST_MAX_TOKENS = 'gen_ai.request.max_tokens';
export const ATTR_GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model';
export const ATTR_GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
export const ATTR_GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
export const ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = 'gen_ai.usage.cache_read.input_tokens';
export const ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_SERVER_PORT = 'server.port';
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_HTTP_RESPONSE_STATUS_CODE = 'http.response.status_code';

/** Gateway-specific attributes, namespaced so they never collide with a future convention. */
export const ATTR_REQUEST_ID = 'infergate.request_id';
export const ATTR_ATTEMPT = 'infergate.attempt';
export const ATTR_ATTEMPTS = 'infergate.attempts';
export const ATTR_BACKEND = 'infergate.backend';
export const ATTR_OUTCOME = 'infergate.outcome';
/** The public id of the gateway-managed API key (never the key); absent for JWTs. */
export const ATTR_API_KEY_ID = 'infergate.api_key.id';
export const ATTR_STREAM = 'infergate.stream';
export const ATTR_TTFT_MS = 'infergate.ttft_ms';
export const ATTR_ROUTING_CANDIDATES = 'infergate.routing.candidates';

/**
 * The backends speak the OpenAI wire format, and the convention says the provider name identifies the telemetry
 * "flavour" rather than who runs the model, so `openai` is the value that applies.
 */
export const PROVIDER_NAME = 'openai';

/** Advisory bucket boundaries (seconds, or tokens) from the GenAI metrics conventions. */
export const BUCKETS_REQUEST_DURATION_S = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
] as const;
export const BUCKETS_TIME_TO_FIRST_TOKEN_S = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
] as const;
export const BUCKETS_TIME_PER_OUTPUT_TOKEN_S = [
  0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
] as const;
export const BUCKETS_TOKEN_USAGE = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
] as const;
