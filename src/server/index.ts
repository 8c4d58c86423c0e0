export { startGateway, type Gateway, type GatewayOptions } from './gateway.js';
export { stderrLogger, silentLogger, type Logger } from './logger.js';
