import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { buildConsole } from '../../scripts/build-console.js';
import { loadConsoleAssets, transferSize } from '../../src/console/index.js';

describe('the console bundle', () => {
  test('the committed bundle is what the sources build to (run npm run build:console after editing src/console/web)', async () => {
    const built = await buildConsole();
    assert.equal(built.size, 2);
    for (const [path, bytes] of built) {
      const committed = await readFile(path);
      assert.ok(committed.equals(Buffer.from(bytes)), `${path} is stale: run npm run build:console`);
    }
  });

  test('a first visit transfers less than 48 KiB compressed, with nothing loaded from elsewhere', async () => {
    const assets = await loadConsoleAssets();
    const size = transferSize(assets);
    assert.ok(size.gzip < 48 * 1024, `console is ${size.gzip} bytes gzipped`);
    const js = assets.get('console.js')!.body.toString();
    // No URL to another origin in the code the browser runs (uPlot and Preact carry none; a CDN link would show here).
    assert.deepEqual(js.match(/https?:\/\/(?!www\.w3\.org\/)[a-z0-9.-]+/gi) ?? [], []);
  });
});
