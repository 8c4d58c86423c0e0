export { createTokenCounter, type TokenCounter, type TokenCounterOptions, type TokenCount, type TextInput } from './token-counter.js';
export { createOutputEstimator, type OutputEstimator, type OutputEstimatorOptions, type OutputEstimate } from './output-estimator.js';
export { encodingForModel, type EncodingName } from './encoders.js';
export { createUsageWriter, type UsageWriter, type UsageWriterOptions, type UsageWriterStats } from './writer.js';
export { rowFromCtx, type UsageRow } from './usage-row.js';
export { openUsageDb, USAGE_SCHEMA_VERSION, type UsageDb, type OpenUsageDbOptions } from './db.js';
export { queryUsage, toCsv, parseGroupBy, GROUP_KEYS, type GroupKey, type UsageQuery, type UsageTotals } from './query.js';
