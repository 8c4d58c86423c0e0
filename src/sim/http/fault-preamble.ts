import type { ServerResponse } from 'node:http';
import { renderError } from '../personality/errors.js';
import type { Personality, SimFault } from '../types.js';
import { sendError } from './io.js';

/**
 * The faults that act before any response byte: `stall_before_first_ms` (real ms), then `status`. Calls `proceed`
 * only when neither ends the request; never calls it once the client has gone.
 */
export function runPreamble(fault: SimFault, res: ServerResponse, personality: Personality, proceed: () => void): void {
  const go = (): void => {
    if (res.destroyed || res.writableEnded) return;
    if (fault.status !== undefined) {
      sendError(res, renderError(personality, fault.status, fault.message ?? `Simulated fault: status ${fault.status}`));
      return;
    }
    proceed();
  };
  if (!fault.stall_before_first_ms) return go();
  const timer = setTimeout(go, fault.stall_before_first_ms);
  res.once('close', () => clearTimeout(timer));
}
