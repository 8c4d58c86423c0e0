/**
 * Which backend holds each stored response, so `GET /v1/responses/{id}`, cancel and `previous_response_id` reach the
 * backend that created it. Bounded (the oldest entries go first). Alone, a gateway process knows the responses it
 * created; with peers (the workers of a host, the replicas on one Redis) every entry is published as it is created,
 * so any process of the fleet can serve the next call. A peer's entry arrives within one channel hop (milliseconds):
 * a lookup that misses waits that long for it before answering 404, so a client that creates a response on one
 * process and retrieves it at once through another is not refused. Entries are not persisted: a process that starts
 * later knows only what is created after it joined.
 */
export interface StoredResponse {
  readonly backendId: string;
  /** The public model name it was created with (its scopes govern retrieval). */
  readonly model: string;
  /** Who created it; nobody else can retrieve or continue it. */
  readonly subject: string;
}

/** The channel to the other gateway processes (a topic of the fleet's broadcast). */
export interface ResponsePeers {
  publish(payload: string): void;
  onMessage(fn: (payload: string) => void): void;
}

/** How long a lookup that misses waits for a peer's entry (a few channel hops, far under any client timeout). */
const PEER_WAIT_MS = 250;

export class ResponseStore {
  readonly #max: number;
  readonly #map = new Map<string, StoredResponse>();
  #peers: ResponsePeers | null = null;
  /** Lookups waiting for a peer's entry, by response id. */
  readonly #waiting = new Map<string, Array<() => void>>();

  constructor(max = 100_000) {
    this.#max = max;
  }

  /** Shares entries with the other processes of the fleet from now on. */
  share(peers: ResponsePeers): void {
    this.#peers = peers;
    peers.onMessage((payload) => {
      let e: unknown;
      try {
        e = JSON.parse(payload);
      } catch {
        return;
      }
      if (!isWire(e)) return;
      this.#store(e.id, { backendId: e.backendId, model: e.model, subject: e.subject });
    });
  }

  remember(id: string, entry: StoredResponse): void {
    this.#store(id, entry);
    this.#peers?.publish(JSON.stringify({ id, backendId: entry.backendId, model: entry.model, subject: entry.subject }));
  }

  /** Forgets a response its backend deleted (here; a peer's entry ages out, and the backend answers 404 for it). */
  forget(id: string): void {
    this.#map.delete(id);
  }

  /** The entry when it exists and belongs to `subject`; another caller's response is as good as unknown. */
  async find(id: string, subject: string): Promise<StoredResponse | null> {
    let e = this.#map.get(id);
    if (e === undefined && this.#peers !== null) {
      await this.#arrival(id);
      e = this.#map.get(id);
    }
    return e && e.subject === subject ? e : null;
  }

  #store(id: string, entry: StoredResponse): void {
    this.#map.delete(id);
    this.#map.set(id, entry);
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value!);
    const waiting = this.#waiting.get(id);
    if (waiting !== undefined) {
      this.#waiting.delete(id);
      for (const wake of waiting) wake();
    }
  }

  #arrival(id: string): Promise<void> {
    return new Promise((resolve) => {
      const list = this.#waiting.get(id) ?? [];
      const timer = setTimeout(() => {
        const rest = this.#waiting.get(id)?.filter((w) => w !== wake);
        if (rest && rest.length > 0) this.#waiting.set(id, rest);
        else this.#waiting.delete(id);
        resolve();
      }, PEER_WAIT_MS);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      list.push(wake);
      this.#waiting.set(id, list);
    });
  }
}

function isWire(e: unknown): e is StoredResponse & { id: string } {
  if (typeof e !== 'object' || e === null) return false;
  const r = e as Record<string, unknown>;
  return typeof r.id === 'string' && typeof r.backendId === 'string' && typeof r.model === 'string' && typeof r.subject === 'string';
}
