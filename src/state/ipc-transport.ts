import type { MemoryAuthority } from './authority.js';
import type { ExchangeItem, ExchangeReply, Transport } from './types.js';

/** The two ends of a process's IPC channel (a cluster worker's `process`, or the supervisor's `Worker`). */
export interface IpcPort {
  send(message: unknown): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

interface LeaseRequest {
  ig: 'lease';
  id: number;
  holder: string;
  items: ExchangeItem[];
}

interface LeaseResponse {
  ig: 'lease-reply';
  id: number;
  replies: ExchangeReply[];
}

const isObj = (m: unknown): m is Record<string, unknown> => typeof m === 'object' && m !== null;

/** The worker's side: exchanges go to the supervisor over the cluster IPC channel. */
export function createIpcTransport(port: IpcPort, options: { timeoutMs?: number } = {}): Transport {
  const pending = new Map<number, { resolve: (r: ExchangeReply[]) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  let next = 1;
  const onMessage = (m: unknown) => {
    if (!isObj(m) || m.ig !== 'lease-reply') return;
    const res = m as unknown as LeaseResponse;
    const p = pending.get(res.id);
    if (!p) return;
    pending.delete(res.id);
    clearTimeout(p.timer);
    p.resolve(res.replies);
  };
  port.on('message', onMessage);
  return {
    exchange(holder, items) {
      return new Promise((resolve, reject) => {
        const id = next++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error('the supervisor did not answer a lease exchange'));
        }, options.timeoutMs ?? 5000);
        timer.unref();
        pending.set(id, { resolve, reject, timer });
        const req: LeaseRequest = { ig: 'lease', id, holder, items: items as ExchangeItem[] };
        port.send(req);
      });
    },
    async close() {
      port.off('message', onMessage);
      for (const p of pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error('lease transport closed'));
      }
      pending.clear();
    },
  };
}

/** The supervisor's side: answers one worker's exchanges from the host's authority. Returns a detach function. */
export function serveLeases(authority: MemoryAuthority, port: IpcPort): () => void {
  const onMessage = (m: unknown) => {
    if (!isObj(m) || m.ig !== 'lease') return;
    const req = m as unknown as LeaseRequest;
    const res: LeaseResponse = { ig: 'lease-reply', id: req.id, replies: authority.exchange(req.holder, req.items) };
    port.send(res);
  };
  port.on('message', onMessage);
  return () => port.off('message', onMessage);
}
