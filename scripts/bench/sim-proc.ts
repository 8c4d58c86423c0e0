/**
 * Child process of the overhead benchmark: the upstreams every row talks to, in one process on the driver core:
 *  - `fast`: the simulator's fast engine (a fixed pre-serialised response, no timers), so the proxy, not the backend,
 *    is measured;
 *  - `paced`: the stamped paced stream of paced-upstream.ts, for the per-chunk phase.
 * Prints one JSON line `{"fast":PORT,"paced":PORT}` on stdout when both listen; exits on SIGTERM/SIGINT or when the
 * parent closes our stdin.
 */
import { parseArgs } from 'node:util';
import { startSim } from '../../src/sim/index.js';
import { startPacedUpstream } from './paced-upstream.js';
import { FAST_MODEL, FAST_RESPONSE_TOKENS } from './workload.js';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } });
const base = Number(values.port);

const fast = await startSim({
  port: base,
  engine: 'fast',
  model: FAST_MODEL,
  fastResponseTokens: FAST_RESPONSE_TOKENS,
  log: false,
});
const paced = await startPacedUpstream(base ? base + 1 : 0);

process.stdout.write(`${JSON.stringify({ fast: fast.port, paced: paced.port })}\n`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  paced.closeAllConnections();
  paced.close();
  void fast.close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The parent going away (even by SIGKILL) closes our stdin: never outlive the benchmark.
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
