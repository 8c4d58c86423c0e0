/**
 * Child process of heap-settings.test.ts: starts the way the gateway does (src/main.ts, here with --version so that
 * it only prints), then keeps a steady live set while short-lived objects are promoted and die past it, and reports
 * the largest old space seen against what is live after a full collection.
 */
process.argv.splice(2, process.argv.length, '--version');
await import('../../src/main.js');
const v8 = await import('node:v8');
const { heapSettings } = await import('../../src/server/heap-settings.js');
const oldSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_size / 1048576;
const live: object[] = [];
for (let i = 0; i < 300_000; i++) live.push({ i, a: [i, i + 1, i + 2], s: `live-${i}` });
// Each object outlives a scavenge or two (so it is promoted), then dies: old-space garbage, as in-flight requests make.
const ring: object[] = new Array(60_000);
let maxOldMb = 0;
for (let i = 0; i < 6_000_000; i++) {
  ring[i % ring.length] = { i, a: [i, i], s: `x${i}` };
  if ((i & 0x1fff) === 0) maxOldMb = Math.max(maxOldMb, oldSpace());
}
(globalThis as { gc?: () => void }).gc!();
const liveMb = v8.getHeapStatistics().used_heap_size / 1048576;
process.stdout.write(`${JSON.stringify({ heapSettings, maxOldMb, liveMb, kept: live.length + ring.length })}\n`);
