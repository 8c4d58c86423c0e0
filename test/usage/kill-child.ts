// Child process for kill.test.ts: records usage rows at a steady rate and prints how many it has recorded.
// stdout is a pipe, and pipe writes are synchronous on Linux, so the parent sees every count before a kill lands.
import { createUsageWriter } from '../../src/usage/index.js';
import { row } from './fixtures.js';

const [path, batch, interval, perTick] = process.argv.slice(2);
const rowsPerTick = Number(perTick ?? 10);
const writer = createUsageWriter({ path: path ?? 'usage.db', batchSize: Number(batch ?? 100), flushIntervalMs: Number(interval ?? 50) });
let n = 0;
process.on('SIGTERM', () => {
  writer.close();
  process.stdout.write(`closed ${n}\n`);
  process.exit(0);
});
await writer.ready;
setInterval(() => {
  for (let i = 0; i < rowsPerTick; i++) writer.record(row({ id: `r${++n}` }));
  process.stdout.write(`${n}\n`);
}, 1);
process.stdout.write('ready\n');
