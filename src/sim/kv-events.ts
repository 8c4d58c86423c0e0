/**
 * The simulator's KV-cache events, published as vLLM publishes them when started with `--kv-events-config`
 * (vllm/distributed/kv_events.py, ZmqEventPublisher), so a gateway's consumer is tested against the same transport
 * and schema:
 * - a ZeroMQ PUB socket; every message is three frames: topic, an 8-byte big-endian sequence number, the payload;
 * - the payload is a msgpack KVEventBatch encoded as an array: [ts (float seconds), events, data_parallel_rank], each
 *   event a tagged array: ["BlockStored", block_hashes, parent_block_hash, token_ids, block_size, lora_id, medium],
 *   ["BlockRemoved", block_hashes, medium], ["AllBlocksCleared"];
 * - a ROUTER socket for replay: a DEALER sends [empty, start sequence (8 bytes)] and gets [empty, seq, payload] for
 *   every buffered batch from that sequence on, then [empty, -1 (8 bytes), empty].
 * Block hashes are the engine's own chained block keys (integers, as vLLM's builtin-hash mode sends them).
 */
import { encode } from '@msgpack/msgpack';
import { Publisher, Router } from 'zeromq';
import type { KvEventSink } from './engine/vllm/kv-event-sink.js';

export interface SimKvEventsOptions {
  /** PUB endpoint; default `tcp://127.0.0.1:*` (a free port; read `endpoint` after start). vLLM's default is tcp://*:5557. */
  readonly endpoint?: string;
  /** Replay ROUTER endpoint; default `tcp://127.0.0.1:*`; null: no replay socket. */
  readonly replayEndpoint?: string | null;
  readonly topic?: string;
  /** Batches kept for replay (vLLM's buffer_steps, default 10,000). */
  readonly bufferSteps?: number;
  readonly blockSize: number;
}

export interface SimKvEvents extends KvEventSink {
  /** The bound PUB endpoint (with its port). */
  readonly endpoint: string;
  readonly replayEndpoint: string | null;
  readonly stats: { batches: number; bytes: number; stored: number; removed: number };
  close(): Promise<void>;
}

const END_SEQ = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

function seqBytes(seq: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigInt64BE(BigInt(seq));
  return b;
}

export async function startSimKvEvents(options: SimKvEventsOptions): Promise<SimKvEvents> {
  const pub = new Publisher({ sendHighWaterMark: 100_000 });
  await pub.bind(options.endpoint ?? 'tcp://127.0.0.1:*');
  const replayAt = options.replayEndpoint === undefined ? 'tcp://127.0.0.1:*' : options.replayEndpoint;
  const router = replayAt === null ? null : new Router();
  if (router && replayAt) await router.bind(replayAt);
  const topic = Buffer.from(options.topic ?? '');
  const bufferSteps = options.bufferSteps ?? 10_000;
  const buffer: [number, Buffer][] = [];
  const stats = { batches: 0, bytes: 0, stored: 0, removed: 0 };
  let events: unknown[] = [];
  let removed: number[] = [];
  let seq = 0;
  // zeromq.js allows one send in progress per socket: sends are chained.
  let pubChain: Promise<unknown> = Promise.resolve();
  let routerChain: Promise<unknown> = Promise.resolve();
  let closed = false;

  const flushRemoved = (): void => {
    if (removed.length === 0) return;
    events.push(['BlockRemoved', removed, 'GPU']);
    stats.removed += removed.length;
    removed = [];
  };

  if (router) {
    void (async () => {
      try {
        for await (const frames of router) {
          const [id, , start] = frames;
          if (!id || !start || start.length !== 8) continue;
          const from = Number(start.readBigInt64BE());
          const out = buffer.filter(([s]) => s >= from);
          routerChain = routerChain.then(async () => {
            for (const [s, payload] of out) await router.send([id, Buffer.alloc(0), seqBytes(s), payload]);
            await router.send([id, Buffer.alloc(0), END_SEQ, Buffer.alloc(0)]);
          }).catch(() => {});
        }
      } catch {
        // closed
      }
    })();
  }

  return {
    endpoint: pub.lastEndpoint ?? '',
    replayEndpoint: router?.lastEndpoint ?? null,
    stats,
    stored(hashes, parent, tokens) {
      // Removals before this store keep their order relative to it (a block evicted to make room, then stored).
      flushRemoved();
      events.push(['BlockStored', hashes.slice(), parent, tokens.slice(), options.blockSize, null, 'GPU']);
      stats.stored += hashes.length;
    },
    removed(hash) {
      removed.push(hash);
    },
    cleared() {
      flushRemoved();
      events.push(['AllBlocksCleared']);
    },
    endStep() {
      flushRemoved();
      if (events.length === 0 || closed) return;
      const payload = Buffer.from(encode([Date.now() / 1000, events, 0]));
      events = [];
      const s = seq++;
      buffer.push([s, payload]);
      if (buffer.length > bufferSteps) buffer.shift();
      stats.batches++;
      stats.bytes += payload.length;
      pubChain = pubChain.then(() => pub.send([topic, seqBytes(s), payload])).catch(() => {});
    },
    async close() {
      closed = true;
      await pubChain;
      pub.close();
      router?.close();
    },
  };
}
