// Started by request-log.test.ts: writes 20 request lines and a general one to the file named in argv, then exits
// at once, leaving the flush to the exit handler.
import { closeSync, openSync } from 'node:fs';
import { createManualClock, createRequestCtx } from '../../src/core/index.js';
import { createTelemetry } from '../../src/telemetry/index.js';

const fd = openSync(process.argv[2]!, 'w');
const clock = createManualClock(1);
const t = createTelemetry({ tracing: false, metrics: false, clock, log: { destination: fd } });
for (let i = 0; i < 20; i++) {
  const ctx = createRequestCtx(`req_child${i}`, clock.now(), clock.wallMs());
  ctx.endMs = ctx.startMs + 1;
  t.endRequest(ctx, null);
}
t.logger.info('bye');
process.on('exit', () => closeSync(fd));
process.exit(0);
