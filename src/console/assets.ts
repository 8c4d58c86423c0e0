import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';

/**
 * The console's files, built from ./web by `npm run build:console` into ./assets and committed, so `npm start`
 * serves them with no build step and no network. Read and compressed once at start (a few tens of KiB), then
 * served from memory with an ETag.
 */
export interface Asset {
  readonly type: string;
  readonly body: Buffer;
  readonly gzip: Buffer;
  readonly etag: string;
}

const FILES: Record<string, string> = {
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

function asset(type: string, body: Buffer): Asset {
  return { type, body, gzip: gzipSync(body, { level: 9 }), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` };
}

export async function loadConsoleAssets(): Promise<Map<string, Asset>> {
  const dir = new URL('./assets/', import.meta.url);
  const out = new Map<string, Asset>();
  for (const [name, type] of Object.entries(FILES)) out.set(name, asset(type, await readFile(new URL(name, dir))));
  out.set('index.html', asset('text/html; charset=utf-8', Buffer.from(indexHtml(out))));
  return out;
}

/** The page: references the bundle by content hash so a browser never mixes an old script with a new server. */
function indexHtml(assets: Map<string, Asset>): string {
  const v = (name: string) => encodeURIComponent(assets.get(name)!.etag.replaceAll('"', ''));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>infergate console</title><meta name="color-scheme" content="light dark"><link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/console.css?v=${v('console.css')}"></head>
<body><div id="app"></div><script type="module" src="/console/console.js?v=${v('console.js')}"></script></body></html>
`;
}

/** Total bytes a browser downloads for a first visit, compressed and not. */
export function transferSize(assets: Map<string, Asset>): { gzip: number; raw: number } {
  let gzip = 0;
  let raw = 0;
  for (const a of assets.values()) {
    gzip += a.gzip.length;
    raw += a.body.length;
  }
  return { gzip, raw };
}
