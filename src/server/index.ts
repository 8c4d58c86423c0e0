export { startGateway, type Gateway, type GatewayOptions } from './gateway.js';
export { silentLogger, type Logger } from './logger.js';
export { runWorker } from './worker.js';
export { runSupervisor } from './supervisor-main.js';
export { resolveWorkers } from './worker-count.js';
export { bannerText } from './banner.js';
export { authKeyPath } from './load-problems.js';
export { onStopSignals } from './stop-signals.js';
