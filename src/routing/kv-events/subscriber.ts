import type * as Zeromq from 'zeromq';

/** The zeromq package: its native addon and ~3 MB of resident memory, loaded only where KV events are configured. */
export type ZeromqModule = typeof Zeromq;

/** Loads zeromq (once; later calls get the same module). Call it at start, for a config with `kv_events`. */
export const loadZeromq = (): Promise<ZeromqModule> => import('zeromq');

/**
 * The transport side of vLLM's KV events: a ZeroMQ SUB socket on the engine's publisher (frames: topic, 8-byte
 * big-endian sequence number, payload) and, when the engine has one, a DEALER on its replay ROUTER to fetch the
 * batches a sequence gap or a late start missed ([empty, start seq] out; [empty, (topic,) seq, payload] back, ending
 * with seq −1). It hands payloads on in sequence order and says when the order could not be restored.
 */
export interface SubscriberHandler {
  /** The next batch in sequence. */
  batch(seq: number, payload: Uint8Array): void;
  /** Batches from `from` on were lost for good (replay absent, timed out or its buffer rolled over). */
  lost(from: number, reason: 'gap' | 'start'): void;
  /** The publisher started over (its sequence went back to 0): an engine restart, its cache is empty. */
  restarted(): void;
  /** A replay completed with nothing lost: the picture is complete up to now (also for an engine that is idle). */
  caughtUp(): void;
  /** The connection to the publisher dropped (heartbeats unanswered, or the engine went away) or came back. */
  connection(up: boolean): void;
}

export interface SubscriberOptions {
  /** The zeromq package, from loadZeromq(). */
  readonly zmq: ZeromqModule;
  readonly endpoint: string;
  readonly replayEndpoint: string | null;
  readonly topic: string;
  readonly handler: SubscriberHandler;
  /** Longest wait for a replay's end marker (ms). */
  readonly replayTimeoutMs?: number;
}

const seqBytes = (seq: number): Buffer => {
  const b = Buffer.allocUnsafe(8);
  b.writeBigInt64BE(BigInt(seq));
  return b;
};

export class KvEventsSubscriber {
  readonly #o: SubscriberOptions;
  readonly #sub: Zeromq.Subscriber;
  #up = false;
  /** Next sequence number to hand on; null until the start replay has told where the stream begins. */
  #expected: number | null = null;
  /** Live batches that arrived while a replay ran, handed on after it. */
  #pending: [number, Uint8Array][] | null = [];
  #closed = false;
  readonly stats = { messages: 0, bytes: 0, replays: 0, gaps: 0, lastMessageAt: 0 };

  constructor(options: SubscriberOptions) {
    this.#o = options;
    // ZMTP heartbeats (answered by any libzmq ≥ 4.2 peer without configuration) turn a dead publisher into a
    // disconnect within seconds; an idle engine, or one serving only cached prompts, publishes nothing and is not dead.
    this.#sub = new options.zmq.Subscriber({ heartbeatInterval: 1000, heartbeatTimeout: 3000, reconnectInterval: 500, reconnectMaxInterval: 5000 });
  }

  /** Connects (ZeroMQ reconnects by itself when the engine is down or restarts) and catches up from sequence 0. */
  start(now: () => number): void {
    const h = this.#o.handler;
    this.#sub.events.on('connect', () => {
      const was = this.#up;
      this.#up = true;
      h.connection(true);
      // Back after a drop: whatever was published meanwhile is asked for again.
      if (!was && this.#expected !== null && !this.#pending) {
        this.#pending = [];
        void this.#replay(this.#expected, 'gap');
      }
    });
    this.#sub.events.on('disconnect', () => {
      this.#up = false;
      h.connection(false);
    });
    this.#sub.connect(this.#o.endpoint);
    this.#sub.subscribe(this.#o.topic);
    void this.#receive(now);
    void this.#replay(0, 'start');
  }

  close(): void {
    this.#closed = true;
    this.#sub.close();
  }

  async #receive(now: () => number): Promise<void> {
    try {
      for await (const frames of this.#sub) {
        if (frames.length < 3) continue;
        const seqBuf = frames[frames.length - 2] as Buffer;
        const payload = frames[frames.length - 1] as Buffer;
        if (seqBuf.length !== 8) continue;
        this.stats.messages++;
        this.stats.bytes += payload.length;
        this.stats.lastMessageAt = now();
        this.#offer(Number(seqBuf.readBigInt64BE()), payload);
      }
    } catch {
      // closed
    }
  }

  #offer(seq: number, payload: Uint8Array): void {
    if (this.#pending) {
      this.#pending.push([seq, payload]);
      return;
    }
    const expected = this.#expected as number;
    if (seq === expected) {
      this.#expected = seq + 1;
      this.#o.handler.batch(seq, payload);
    } else if (seq > expected) {
      this.stats.gaps++;
      this.#pending = [[seq, payload]];
      void this.#replay(expected, 'gap');
    } else if (seq === 0) {
      this.#o.handler.restarted();
      this.#expected = 1;
      this.#o.handler.batch(seq, payload);
    }
    // Otherwise a batch already handed on (a replay overlapping the live stream): dropped.
  }

  async #replay(from: number, reason: 'gap' | 'start'): Promise<void> {
    const got = this.#o.replayEndpoint ? await this.#fetch(from) : null;
    if (this.#closed) return;
    let next = from;
    let lostNone = true;
    if (got === null || (got.length > 0 && (got[0] as [number, Uint8Array])[0] > from)) {
      lostNone = false;
      // Nothing to replay from or the buffer no longer reaches back there: the batches before are lost.
      if (got === null && reason === 'start') next = -1;
      else this.#o.handler.lost(from, reason);
    }
    const pending = this.#pending ?? [];
    this.#pending = null;
    const all = [...(got ?? []), ...pending].sort((a, b) => a[0] - b[0]);
    for (const [seq, payload] of all) {
      if (next === -1) {
        // No replay socket at start: the stream begins where it is found; a publisher not at 0 has history we miss.
        if (seq > 0) this.#o.handler.lost(0, 'start');
        next = seq;
      }
      if (seq < next) continue;
      if (seq > next) {
        lostNone = false;
        this.#o.handler.lost(next, reason);
      }
      this.#o.handler.batch(seq, payload);
      next = seq + 1;
    }
    this.#expected = next === -1 ? 0 : next;
    if (got !== null && lostNone) this.#o.handler.caughtUp();
  }

  /** The publisher's buffered batches from `from` on, in order; null when the replay failed. */
  async #fetch(from: number): Promise<[number, Uint8Array][] | null> {
    this.stats.replays++;
    const wait = this.#o.replayTimeoutMs ?? 3000;
    const dealer = new this.#o.zmq.Dealer({ receiveTimeout: wait, sendTimeout: wait, linger: 0 });
    try {
      dealer.connect(this.#o.replayEndpoint as string);
      await dealer.send([Buffer.alloc(0), seqBytes(from)]);
      const out: [number, Uint8Array][] = [];
      for (;;) {
        const frames = await dealer.receive();
        // [empty, seq, payload] (vLLM) or [empty, topic, seq, payload] (versions that echo the topic).
        const seqBuf = frames[frames.length - 2] as Buffer;
        if (frames.length < 3 || seqBuf.length !== 8) return null;
        const seq = Number(seqBuf.readBigInt64BE());
        if (seq < 0) return out;
        out.push([seq, frames[frames.length - 1] as Buffer]);
      }
    } catch {
      return null;
    } finally {
      dealer.close();
    }
  }
}
