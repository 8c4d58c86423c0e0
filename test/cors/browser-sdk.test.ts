import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { startTestGateway, startSims } from '../helpers/harness.js';
import { launchChromium } from '../console/browser.js';
import type { Gateway } from '../../src/server/index.js';
import type { SimServer } from '../../src/sim/index.js';

/**
 * A browser app on another origin calls the gateway with the official OpenAI SDK (its ES modules served as they are
 * published), as `dangerouslyAllowBrowser` apps do: the SDK's headers are preflighted, plain and streamed answers are
 * read, and the request id is visible to the page. A page on an origin not listed cannot read anything.
 */
const SDK_DIR = fileURLToPath(new URL('../../node_modules/openai/', import.meta.url));

function pageServer(): Promise<Server> {
  const server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0]!;
      if (path === '/') {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>app</title>');
        return;
      }
      const rel = normalize(path.slice('/openai/'.length));
      if (!path.startsWith('/openai/') || rel.startsWith('..')) return void res.writeHead(404).end();
      try {
        const body = await readFile(join(SDK_DIR, rel));
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(body);
      } catch {
        res.writeHead(404).end();
      }
    })();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('a browser app on another origin, through the OpenAI SDK', () => {
  let sims: SimServer[];
  let gw: Gateway;
  let pages: Server;
  let browser: Browser;
  let port: number;
  before(async () => {
    pages = await pageServer();
    port = (pages.address() as AddressInfo).port;
    sims = await startSims(1);
    gw = await startTestGateway([{ name: 'm', backends: [{ url: sims[0]!.url, model: 'sim-llama-8b' }] }], {
      server: { cors: { origins: [`http://127.0.0.1:${port}`] } },
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await gw?.close(100);
    await Promise.all((sims ?? []).map((s) => s.close()));
    await new Promise((r) => pages?.close(r));
  });

  async function runInPage(origin: string): Promise<{ text?: string; streamed?: string; requestId?: string | null; error?: string }> {
    const page = await browser.newPage();
    try {
      await page.goto(`${origin}/`);
      return await page.evaluate(async (base) => {
        try {
          const { default: OpenAI } = await import('/openai/index.mjs' as string);
          const client = new OpenAI({ baseURL: base, apiKey: 'sk-browser', dangerouslyAllowBrowser: true, maxRetries: 0 });
          const { data, response } = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
          const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
          let streamed = '';
          for await (const c of stream) streamed += c.choices[0]?.delta?.content ?? '';
          return { text: data.choices[0].message.content, streamed, requestId: response.headers.get('x-request-id') };
        } catch (err) {
          return { error: String(err) };
        }
      }, `${gw.url}/v1`);
    } finally {
      await page.close();
    }
  }

  test('an allowed origin gets answers, streamed and not, and the request id', async () => {
    const r = await runInPage(`http://127.0.0.1:${port}`);
    assert.equal(r.error, undefined, r.error);
    assert.ok(r.text && r.text.length > 0);
    assert.ok(r.streamed && r.streamed.length > 0);
    assert.ok(r.requestId, 'x-request-id is exposed to the page');
  });

  test('an origin not listed cannot call the gateway', async () => {
    // localhost and 127.0.0.1 are different origins to a browser.
    const r = await runInPage(`http://localhost:${port}`);
    assert.match(r.error ?? '', /Connection error|Failed to fetch/);
  });
});
