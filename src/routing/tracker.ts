import type { Clock } from '../core/index.js';
import type { BackendState } from './state/backend-state.js';
import type { InFlight } from './state/in-flight.js';
import type { AttemptTracker } from './types.js';

export interface TrackerParts {
  readonly state: BackendState;
  readonly record: InFlight;
  readonly clock: Clock;
  /** Capacity may have freed (first token, end): the gateway queue should look again. */
  readonly onSignal: () => void;
  readonly onEnd: (result: Parameters<AttemptTracker['end']>[0]) => void;
}

/** Feeds one attempt's stream events into its backend's state. O(1) per call; `end` is idempotent. */
export function createTracker(p: TrackerParts): AttemptTracker {
  const { state, record, clock } = p;
  return {
    firstToken() {
      if (record.ended || record.firstTokenAt >= 0) return;
      state.firstToken(record, clock.now());
      p.onSignal();
    },
    tokens(n) {
      state.tokens(record, n, clock.now());
    },
    end(result) {
      if (record.ended) return;
      const usage =
        result.ok && result.promptTokens !== undefined
          ? { promptTokens: result.promptTokens, ...(result.cachedTokens !== undefined ? { cachedTokens: result.cachedTokens } : {}) }
          : null;
      state.end(record, clock.now(), usage);
      p.onEnd(result);
      p.onSignal();
    },
  };
}
