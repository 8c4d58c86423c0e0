import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function parseRaw(text: string): RawResponse {
  const split = text.indexOf('\r\n\r\n');
  const head = split < 0 ? text : text.slice(0, split);
  const [statusLine, ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = split < 0 ? '' : text.slice(split + 4);
  if (headers['transfer-encoding'] === 'chunked') {
    let out = '';
    let rest = body;
    for (;;) {
      const nl = rest.indexOf('\r\n');
      const size = parseInt(rest.slice(0, nl), 16);
      if (!size) break;
      out += rest.slice(nl + 2, nl + 2 + size);
      rest = rest.slice(nl + 2 + size + 2);
    }
    body = out;
  }
  return { status: Number(statusLine?.split(' ')[1]), headers, body };
}

/** Writes `parts` to a fresh connection (waiting `gapMs` between them) and resolves with what came back before close. */
export function rawExchange(port: number, parts: Array<string | Buffer>, gapMs = 0): Promise<RawResponse & { raw: string }> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      resolve({ ...parseRaw(raw), raw });
    });
    socket.on('connect', async () => {
      for (const p of parts) {
        if (socket.destroyed) return;
        socket.write(p);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

/** Every response in `raw`, in order (several come back on one connection when requests were pipelined). */
export function parseAllRaw(raw: string): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = raw;
  while (rest.length > 0) {
    const split = rest.indexOf('\r\n\r\n');
    if (split < 0) break;
    const head = parseRaw(rest.slice(0, split + 4));
    let end: number;
    if (head.headers['content-length'] !== undefined) end = split + 4 + Number(head.headers['content-length']);
    else if (head.headers['transfer-encoding'] === 'chunked') {
      const last = rest.indexOf('\r\n0\r\n\r\n', split);
      end = last < 0 ? rest.length : last + 7;
    } else end = rest.length;
    out.push(parseRaw(rest.slice(0, end)));
    rest = rest.slice(end);
  }
  return out;
}
