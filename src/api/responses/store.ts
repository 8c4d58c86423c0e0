/**
 * Which backend holds each stored response, so `GET /v1/responses/{id}`, cancel and `previous_response_id` reach the
 * backend that created it. In memory per gateway process and bounded (the oldest entries go first): a response
 * stored on a backend stays retrievable there, but through this gateway only while it is remembered here.
 */
export interface StoredResponse {
  readonly backendId: string;
  /** The public model name it was created with (its scopes govern retrieval). */
  readonly model: string;
  /** Who created it; nobody else can retrieve or continue it. */
  readonly subject: string;
}

export class ResponseStore {
  readonly #max: number;
  readonly #map = new Map<string, StoredResponse>();

  constructor(max = 100_000) {
    this.#max = max;
  }

  remember(id: string, entry: StoredResponse): void {
    this.#map.delete(id);
    this.#map.set(id, entry);
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value!);
  }

  /** The entry when it exists and belongs to `subject`; another caller's response is as good as unknown. */
  find(id: string, subject: string): StoredResponse | null {
    const e = this.#map.get(id);
    return e && e.subject === subject ? e : null;
  }
}
