export { startGateway, type Gateway, type GatewayOptions } from './gateway.js';
export { silentLogger, type Logger } from './logger.js';
