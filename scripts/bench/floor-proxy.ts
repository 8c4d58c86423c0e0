/**
 * The Node floor (row 2): the least a Node proxy can do and still be a proxy. A bare node:http server that reads the
 * request body, forwards it with undici's Pool.request over keep-alive connections and streams the answer back with
 * backpressure. No routing, no parsing, no validation: whatever infergate costs above this is its own.
 * Usage: node --import tsx floor-proxy.ts --port N --fast URL --paced URL [--exit-with-stdin]   (prints "listening PORT")
 */
import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { UPSTREAM_HEADER } from './workload.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    fast: { type: 'string' },
    paced: { type: 'string' },
    connections: { type: 'string', default: '128' },
    'exit-with-stdin': { type: 'boolean', default: false },
  },
});
if (!values.fast || !values.paced) throw new Error('floor-proxy needs --fast URL and --paced URL');

const poolOptions = { connections: Number(values.connections), pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 };
const fast = new Pool(values.fast, poolOptions);
const paced = new Pool(values.paced, poolOptions);

/** Hop-by-hop headers are the connection's own and never forwarded (RFC 9110 §7.6.1). */
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'proxy-connection', 'host', 'content-length']);

function forwardable(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP.has(k)) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

const server = createServer((req, res) => {
  const parts: Buffer[] = [];
  req.on('data', (c: Buffer) => parts.push(c));
  req.on('end', () => {
    const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const pool = req.headers[UPSTREAM_HEADER] === 'paced' ? paced : fast;
    const ac = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) ac.abort();
    });
    pool
      .request({ method: (req.method ?? 'GET') as 'POST', path: req.url ?? '/', headers: forwardable(req.headers), body, signal: ac.signal })
      .then((up) => {
        res.writeHead(up.statusCode, forwardable(up.headers as IncomingHttpHeaders) as OutgoingHttpHeaders);
        up.body.on('data', (chunk: Buffer) => {
          if (!res.write(chunk)) {
            up.body.pause();
            res.once('drain', () => up.body.resume());
          }
        });
        up.body.on('end', () => res.end());
        up.body.on('error', () => res.destroy());
      })
      .catch(() => {
        if (!res.headersSent) {
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end('{"error":{"message":"upstream error","type":"server_error","param":null,"code":null}}');
        } else res.destroy();
      });
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(values.port), '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});

const stop = (): void => {
  server.close();
  server.closeAllConnections();
  void Promise.allSettled([fast.close(), paced.close()]).finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Started with a stdin pipe by the benchmark: the parent going away (even by SIGKILL) closes it.
if (values['exit-with-stdin']) {
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}
