export { createLiveStats, SLOT_MS, ERROR_CLASSES, type LiveStats } from './live-stats.js';
export { prefixHitRate } from './fleet.js';
export type { LiveSnapshot, LiveModelRow, LiveSeries, ErrorClass, FleetBackend, FleetSnapshot, ApiKeyWire } from './wire.js';
export { configView, maskSecrets, type ConfigStatus } from './config-view.js';
export { loadConsoleAssets, transferSize, type Asset } from './assets.js';
