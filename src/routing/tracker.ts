import type { Clock } from '../core/index.js';
import type { BackendState } from './state/backend-state.js';
import type { InFlight } from './state/in-flight.js';
import type { RequestProfile } from './request-profile.js';
import type { AttemptTracker, BackendTarget, RouteRequest } from './types.js';

export type AttemptEnd = Parameters<AttemptTracker['end']>[0];

/** What a tracker reports to the routing core that made it (one object per core, shared by its trackers). */
export interface TrackerOwner {
  /** Capacity may have freed (first token, end): the gateway queue should look again. */
  readonly onSignal: () => void;
  /** The attempt ended; its backend's state is already updated. */
  readonly onEnd: (tracker: Tracker, result: AttemptEnd) => void;
}

/**
 * Feeds one attempt's stream events into its backend's state. O(1) per call; `end` is idempotent. A class with its
 * methods on the prototype: made per request, it allocates one object, not a closure per method and callback.
 */
export class Tracker implements AttemptTracker {
  constructor(
    readonly target: BackendTarget,
    readonly req: RouteRequest,
    readonly state: BackendState,
    readonly record: InFlight,
    /** The profile the request was planned with, or null (begin without plan). */
    readonly profile: RequestProfile | null,
    readonly clock: Clock,
    readonly owner: TrackerOwner,
  ) {}

  firstToken(): void {
    const record = this.record;
    if (record.ended || record.firstTokenAt >= 0) return;
    this.state.firstToken(record, this.clock.now());
    this.owner.onSignal();
  }

  tokens(n: number): void {
    this.state.tokens(this.record, n, this.clock.now());
  }

  end(result: AttemptEnd): void {
    if (this.record.ended) return;
    // The result carries the usage fields BackendState reads (promptTokens, cachedTokens when reported).
    this.state.end(this.record, this.clock.now(), result.ok && result.promptTokens !== undefined ? result : null);
    this.owner.onEnd(this, result);
    this.owner.onSignal();
  }
}
