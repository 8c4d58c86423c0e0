/**
 * Child process of heap-settings.test.ts (run with --allow-natives-syntax): starts the way the gateway does
 * (src/main.ts, with --version so that it only prints), then plays what tenured a request's literals in the gateway:
 * a burst in which one object literal's objects all outlive scavenges, then short-lived objects from the same literal,
 * each pointing at a fresh young array. It reports how many of a sample of the short-lived ones V8 allocated in the
 * old generation (where, once dead, they keep their arrays alive through every scavenge until a full collection).
 */
process.argv.splice(2, process.argv.length, '--version');
await import('../../src/main.js');
const { heapSettings } = await import('../../src/server/heap-settings.js');
// Natives syntax cannot appear in a module that tsx compiles; a Function body is parsed by V8 alone.
const inYoung = new Function('o', 'return %InYoungGeneration(o)') as (o: object) => boolean;

function literal(payload: number[] | null): { payload: number[] | null; n: number } {
  return { payload, n: 0 };
}

const burst: object[] = [];
for (let i = 0; i < 3_000_000; i++) burst.push(literal(null));
burst.length = 0;

let sampled = 0;
let old = 0;
let sink: object | null = null;
for (let i = 0; i < 200_000; i++) {
  const o = literal([i, i, i]);
  sink = o;
  if ((i & 1023) === 0) {
    sampled++;
    if (!inYoung(o)) old++;
  }
}
process.stdout.write(`${JSON.stringify({ heapSettings, sampled, old, kept: sink !== null })}\n`);
