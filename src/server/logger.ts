/** The few log calls the server makes outside of requests; telemetry's pino logger satisfies it. */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** JSON lines on stderr, used until (or instead of) the telemetry logger. */
export const stderrLogger: Logger = {
  info: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'info', time: Date.now(), ...obj, msg })}\n`),
  warn: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'warn', time: Date.now(), ...obj, msg })}\n`),
  error: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'error', time: Date.now(), ...obj, msg })}\n`),
};

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
