import { EventEmitter } from 'node:events';
import type { IpcPort } from '../../src/state/index.js';

/**
 * An in-memory stand-in for the cluster's pipe between a worker and its supervisor: messages are cloned and delivered
 * asynchronously, as the real channel does.
 */
export function ipcChannel(): { worker: IpcPort; supervisor: IpcPort } {
  const toWorker = new EventEmitter();
  const toSupervisor = new EventEmitter();
  return {
    worker: { send: (m) => setImmediate(() => toSupervisor.emit('message', structuredClone(m))), on: (e, l) => toWorker.on(e, l), off: (e, l) => toWorker.off(e, l) },
    supervisor: { send: (m) => setImmediate(() => toWorker.emit('message', structuredClone(m))), on: (e, l) => toSupervisor.on(e, l), off: (e, l) => toSupervisor.off(e, l) },
  };
}
