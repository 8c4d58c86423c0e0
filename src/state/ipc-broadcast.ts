import { newBroadcastStats, type Broadcast } from './broadcast.js';
import type { IpcPort } from './ipc-transport.js';

/** Messages on the cluster channel (`ig` tags them apart from the lease and usage messages). */
type Msg =
  | { ig: 'rsync'; p: string; t?: string }
  | { ig: 'rsync-snap-req'; id: number }
  | { ig: 'rsync-snap-build'; id: number }
  | { ig: 'rsync-snap'; id: number; p: string | null };

const isMsg = (m: unknown): m is Msg => typeof m === 'object' && m !== null && typeof (m as { ig?: unknown }).ig === 'string' && (m as { ig: string }).ig.startsWith('rsync');

/** How long a starting worker waits for a peer's snapshot before it starts from its own (empty) picture. */
const SNAPSHOT_WAIT_MS = 2000;

/**
 * A worker's side of the host's broadcast: publishes go to the supervisor, which relays them to every other worker.
 * There is no stored snapshot on a host: a worker that starts asks the supervisor, which asks one live peer to build
 * its picture (the last builder `offerSnapshot` registered) and hands it over. A `topic` (default: routing, untagged)
 * keeps another kind of update apart on the same channel; snapshots are routing's only.
 */
export function createIpcBroadcast(port: IpcPort, topic?: string): Broadcast {
  const stats = newBroadcastStats();
  // A worker whose supervisor is gone has a closed channel until it stops: updates are dropped, never thrown.
  const send = (m: Msg): void => {
    if ((port as { connected?: boolean }).connected === false) return;
    try {
      port.send(m);
    } catch {
      // the channel closed between the check and the send
    }
  };
  const listeners: ((payload: string) => void)[] = [];
  let build: (() => string) | null = null;
  let next = 1;
  const waiting = new Map<number, (p: string | null) => void>();
  const onMessage = (m: unknown) => {
    if (!isMsg(m)) return;
    if (m.ig === 'rsync') {
      if (m.t !== topic) return;
      stats.bytesIn += m.p.length;
      stats.messagesIn++;
      for (const l of listeners) l(m.p);
    } else if (m.ig === 'rsync-snap-build') {
      if (topic !== undefined) return;
      const p = build ? build() : null;
      if (p !== null) {
        stats.bytesOut += p.length;
        stats.snapshotBytesOut += p.length;
        stats.snapshotsWritten++;
      }
      send({ ig: 'rsync-snap', id: m.id, p });
    } else if (m.ig === 'rsync-snap') {
      if (topic !== undefined) return;
      waiting.get(m.id)?.(m.p);
      waiting.delete(m.id);
    }
  };
  port.on('message', onMessage);
  return {
    stats,
    publish(payload) {
      stats.bytesOut += payload.length;
      stats.messagesOut++;
      send(topic === undefined ? { ig: 'rsync', p: payload } : { ig: 'rsync', p: payload, t: topic });
    },
    onMessage(fn) {
      listeners.push(fn);
    },
    async offerSnapshot(b) {
      if (topic === undefined) build = b;
    },
    loadSnapshot() {
      if (topic !== undefined) return Promise.resolve(null);
      return new Promise((resolve) => {
        const id = next++;
        const timer = setTimeout(() => {
          waiting.delete(id);
          resolve(null);
        }, SNAPSHOT_WAIT_MS);
        timer.unref();
        waiting.set(id, (p) => {
          clearTimeout(timer);
          if (p !== null) stats.bytesIn += p.length;
          resolve(p);
        });
        send({ ig: 'rsync-snap-req', id });
      });
    },
    async close() {
      port.off('message', onMessage);
      for (const w of waiting.values()) w(null);
      waiting.clear();
    },
  };
}

/**
 * The supervisor's side: relays every worker's updates to the others, and a starting worker's snapshot request to
 * one live peer. `attach` returns the detach function for a worker that exits.
 */
export function createBroadcastHub(): { attach(port: IpcPort): () => void } {
  // A worker between its disconnect and its exit misses updates rather than failing the relay.
  const sendTo = (p: IpcPort, m: Msg): void => {
    if ((p as { isConnected?: () => boolean }).isConnected?.() === false) return;
    try {
      p.send(m);
    } catch {
      // gone meanwhile
    }
  };
  const ports = new Set<IpcPort>();
  let next = 1;
  /** Hub request id → the worker that asked, and its own id. */
  const asks = new Map<number, { from: IpcPort; id: number }>();
  return {
    attach(port) {
      ports.add(port);
      const onMessage = (m: unknown) => {
        if (!isMsg(m)) return;
        if (m.ig === 'rsync') {
          for (const p of ports) if (p !== port) sendTo(p, m);
        } else if (m.ig === 'rsync-snap-req') {
          const peer = [...ports].find((p) => p !== port);
          if (!peer) return sendTo(port, { ig: 'rsync-snap', id: m.id, p: null });
          const hubId = next++;
          asks.set(hubId, { from: port, id: m.id });
          sendTo(peer, { ig: 'rsync-snap-build', id: hubId });
        } else if (m.ig === 'rsync-snap') {
          const ask = asks.get(m.id);
          asks.delete(m.id);
          if (ask && ports.has(ask.from)) sendTo(ask.from, { ig: 'rsync-snap', id: ask.id, p: m.p });
        }
      };
      port.on('message', onMessage);
      return () => {
        port.off('message', onMessage);
        ports.delete(port);
      };
    },
  };
}
