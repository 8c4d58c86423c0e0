import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CountingBackend {
  readonly url: string;
  /** Requests served and the most ever in flight at once, per model. */
  served(model: string): number;
  peak(model: string): number;
  close(): Promise<void>;
}

/**
 * An OpenAI-style backend that answers every chat completion after `delayMs` with a fixed usage (5 prompt + 5
 * completion tokens) and counts, per model, requests served and the peak of requests in flight: the ground truth the
 * exactness checks compare the limits with.
 */
export async function startCountingBackend(delayMs: number): Promise<CountingBackend> {
  const inFlight = new Map<string, number>();
  const peak = new Map<string, number>();
  const served = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (req.url === '/health' || req.method !== 'POST') return void res.end('{}');
      const model = (JSON.parse(body) as { model: string }).model;
      const n = (inFlight.get(model) ?? 0) + 1;
      inFlight.set(model, n);
      peak.set(model, Math.max(peak.get(model) ?? 0, n));
      setTimeout(() => {
        inFlight.set(model, (inFlight.get(model) ?? 1) - 1);
        served.set(model, (served.get(model) ?? 0) + 1);
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            id: 'chatcmpl-1',
            object: 'chat.completion',
            created: 1,
            model,
            choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop', logprobs: null }],
            usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 },
          }),
        );
      }, delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    served: (m) => served.get(m) ?? 0,
    peak: (m) => peak.get(m) ?? 0,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
