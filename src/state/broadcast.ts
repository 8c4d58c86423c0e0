/**
 * A fire-and-forget channel among the gateway processes of a fleet (Redis pub/sub among replicas, the supervisor
 * among the workers of one host), plus one shared snapshot slot for a process that starts. Routing's replica
 * exchange rides on it; nothing here knows what the payloads mean. Messages are never queued while the channel is
 * down: what a peer misses it learns again from later batches or the next snapshot.
 */
export interface Broadcast {
  /** Sends to every other process (never back to this one). */
  publish(payload: string): void;
  /** Every payload another process published. */
  onMessage(fn: (payload: string) => void): void;
  /**
   * Offers this process's picture as the shared snapshot. `build` is only called when this process is the one to
   * write it this period (one writer per `everyMs` across the fleet), so the others pay nothing.
   */
  offerSnapshot(build: () => string, everyMs: number): Promise<void>;
  /** The latest snapshot any process wrote, or null (none yet, expired, or the channel is down). */
  loadSnapshot(): Promise<string | null>;
  /** Bytes published and received so far (payload bytes; what the exchange costs the network). */
  readonly stats: { bytesOut: number; bytesIn: number; messagesOut: number; messagesIn: number; snapshotsWritten: number; snapshotBytesOut: number };
  close(): Promise<void>;
}

export function newBroadcastStats(): Broadcast['stats'] {
  return { bytesOut: 0, bytesIn: 0, messagesOut: 0, messagesIn: 0, snapshotsWritten: 0, snapshotBytesOut: 0 };
}
