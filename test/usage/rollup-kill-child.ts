// Child process for rollups.test.ts: records varied usage rows at a steady rate with rollups flushed every few hundred
// rows, and prints how many it has recorded, until it is killed.
import { createUsageWriter } from '../../src/usage/index.js';
import { variedRow } from './rollup-rows.js';

const [path, flushRows] = process.argv.slice(2);
const writer = createUsageWriter({ path: path!, batchSize: 50, flushIntervalMs: 20, rollupFlushRows: Number(flushRows ?? 300) });
let n = 0;
await writer.ready;
setInterval(() => {
  for (let i = 0; i < 10; i++) writer.record(variedRow(++n));
  process.stdout.write(`${n}\n`);
}, 1);
process.stdout.write('ready\n');
