/**
 * The requests every row is measured with. The same bytes go to every row; only the headers a row needs to find
 * its upstream (Portkey's provider headers, the floor's and nginx's upstream switch) differ.
 */
export const FAST_MODEL = 'bench-fast';
export const PACED_MODEL = 'bench-paced';
/** Tokens in the fast simulator's fixed answer: a typical short completion. */
export const FAST_RESPONSE_TOKENS = 16;
/** The paced stream (paced-upstream.ts): this many content chunks, this far apart. */
export const PACED_CHUNKS = 20;
export const PACED_DELAY_MS = 2;

/** Header the bench's own pass-throughs (floor, nginx) route on: absent → fast upstream, `paced` → paced upstream. */
export const UPSTREAM_HEADER = 'x-bench-upstream';

const messages = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'Write one sentence about the sea.' },
];

export const CHAT_BODY = JSON.stringify({ model: FAST_MODEL, messages, max_tokens: 64, temperature: 0.7 });
export const CHAT_STREAM_BODY = JSON.stringify({ model: FAST_MODEL, messages, max_tokens: 64, temperature: 0.7, stream: true });
export const PACED_STREAM_BODY = JSON.stringify({ model: PACED_MODEL, messages, max_tokens: PACED_CHUNKS, stream: true });
export const CHAT_PATH = '/v1/chat/completions';
