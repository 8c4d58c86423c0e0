import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A backend that misbehaves on purpose: each test scripts what POST requests get, while `/health` answers 200 so
 * the gateway keeps it in rotation. The request body is handed to the script already parsed.
 */
export type Script = (req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>) => void | Promise<void>;

export interface ScriptedBackend {
  readonly url: string;
  /** Number of POST requests received. */
  readonly hits: number;
  setScript(script: Script): void;
  close(): Promise<void>;
}

export async function startScriptedBackend(initial: Script): Promise<ScriptedBackend> {
  let script = initial;
  let hits = 0;
  const server: Server = createServer((req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'text/plain' }).end(req.url === '/health' ? 'ok' : 'not found');
      return;
    }
    hits++;
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(parts).toString('utf8')) as Record<string, unknown>;
      } catch {
        // scripts that care look at the raw request
      }
      Promise.resolve(script(req, res, body)).catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get hits() {
      return hits;
    },
    setScript(s) {
      script = s;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function chunk(content: string, finish: string | null = null, model = 'm'): string {
  return `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta: { content }, finish_reason: finish }] })}\n\n`;
}

export function completion(content: string, finish = 'stop', model = 'm'): string {
  return JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: finish, logprobs: null }],
    usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
  });
}

export const SSE_HEAD = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } as const;
