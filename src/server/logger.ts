/** The few log calls the server makes outside of requests; telemetry's pino logger satisfies it. */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}


export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
