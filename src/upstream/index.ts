export { BackendPools, type PoolOptions } from './pools.js';
export { openAttempt, type AttemptSpec, type AttemptBackend, type AttemptDeadlines, type AttemptConsumer, type ClientLink, type OpenAttempt } from './attempt.js';
export { relaySse, readBody, sseErrorEvent, type StreamResult, type StreamEnd, type StreamRelayOptions } from './relay.js';
export { UpstreamFailure, type FailureKind } from './errors.js';
export { normaliseBackendError } from './normalise-error.js';
export { findUsage, type BackendUsage } from './usage-tap.js';
export { SseScanner, eventData } from './sse-scanner.js';
