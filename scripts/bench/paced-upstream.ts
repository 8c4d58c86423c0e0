/**
 * The paced upstream for the per-chunk phase: an OpenAI-shaped SSE stream of PACED_CHUNKS content chunks, one every
 * PACED_DELAY_MS on a self-correcting timer chain, each chunk's text carrying the CLOCK_MONOTONIC time (ns) it was
 * written (`@<ns>`). CLOCK_MONOTONIC is one clock for every process on the host, so the client can measure each
 * chunk's one-way trip (upstream write → client read) and subtract the direct row's: the delay a proxy adds per chunk,
 * free of the pacing jitter that comparing inter-arrival gaps suffers from. The stamp is in the content, so it
 * survives gateways that re-serialise chunks.
 *
 * Why not the simulator: its fast engine ignores token_delay_ms, and the simple engine paced by `token_delay_ms`
 * has millisecond timer jitter and no send stamps (see bench/NOTES.md).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PACED_CHUNKS, PACED_DELAY_MS, PACED_MODEL } from './workload.js';

const HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };
const INCLUDE_USAGE = /"include_usage"\s*:\s*true/;

function chunk(created: number, delta: Record<string, unknown>, finish: string | null): string {
  return `data: {"id":"chatcmpl-bench-paced","object":"chat.completion.chunk","created":${created},"model":"${PACED_MODEL}","choices":[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":${finish === null ? 'null' : `"${finish}"`}}]}\n\n`;
}

export async function startPacedUpstream(port = 0): Promise<Server & { port: number }> {
  const server = createServer((req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(req.url === '/health' || req.url?.startsWith('/v1/models') ? 200 : 404, { 'content-type': 'application/json' });
      res.end(req.url?.startsWith('/v1/models') ? `{"object":"list","data":[{"id":"${PACED_MODEL}","object":"model","owned_by":"bench"}]}` : '{}');
      return;
    }
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString('utf8');
      const created = Math.floor(Date.now() / 1000);
      res.writeHead(200, HEADERS);
      res.write(chunk(created, { role: 'assistant', content: '' }, null));
      const t0 = process.hrtime.bigint();
      let i = 0;
      let timer: NodeJS.Timeout | null = null;
      const step = () => {
        timer = null;
        if (res.destroyed) return;
        res.write(chunk(created, { content: ` @${process.hrtime.bigint()}` }, null));
        i++;
        if (i < PACED_CHUNKS) {
          // Due times are t0 + i·delay, so timer lateness never accumulates over the stream.
          const due = Number(t0) / 1e6 + i * PACED_DELAY_MS;
          timer = setTimeout(step, Math.max(0, due - Number(process.hrtime.bigint()) / 1e6));
          return;
        }
        res.write(chunk(created, {}, 'stop'));
        if (INCLUDE_USAGE.test(body)) {
          res.write(
            `data: {"id":"chatcmpl-bench-paced","object":"chat.completion.chunk","created":${created},"model":"${PACED_MODEL}","choices":[],"usage":{"prompt_tokens":8,"completion_tokens":${PACED_CHUNKS},"total_tokens":${8 + PACED_CHUNKS}}}\n\n`,
          );
        }
        res.end('data: [DONE]\n\n');
      };
      timer = setTimeout(step, PACED_DELAY_MS);
      res.on('close', () => {
        if (timer) clearTimeout(timer);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return Object.assign(server, { port: (server.address() as AddressInfo).port });
}
