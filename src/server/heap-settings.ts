/**
 * The gateway's V8 heap settings, applied when this module is evaluated: src/main.ts imports it first, so they hold on
 * every start path that runs main (bin/infergate.mjs, `npm start`, the Docker image's CMD, the supervisor's forked
 * workers, which run main again) without a node flag that a user could leave out. Both are read by V8 at each
 * collection, so setting them at run time takes effect (measured against the same flags on node's command line).
 *
 * Old-space growth. V8 sets a heap's next full collection at the size that survived the last one times a growing
 * factor that it picks between 1.1 and 4 from the allocation and collection speeds, the upper end allowed when the
 * heap may grow past 2 GiB (Node's default on 64-bit). Under load the gateway keeps ~27 MB of live objects and
 * allocates fast, so its old space grew to 50–90 MB, mostly dead objects, and the full stack's peak RSS to 240–260 MB
 * (bench/NOTES.md, "Memory"). A fixed 50% growth keeps the old space within ~1.5x of what is live; in an A/B run it
 * cost no measurable CPU per request, where 30% cost 2–4% (a full collection every ~0.5 s under load). The heap's
 * maximum is unchanged: a burst that needs more memory gets it, and collects more often.
 *
 * No allocation-site pretenuring. V8 watches how many objects of each object or array literal survive a scavenge;
 * past 85% it allocates that literal's later objects straight in the old generation, and the decision sticks (a
 * pretenured object leaves no trace for the scavenger to count). A request's literals (an options object, a header
 * record) live exactly as long as the request, so a moment when many were in flight across a scavenge (warm-up, a
 * burst, a pause) could tenure them. From then on every finished request's literal sat dead in the old generation
 * until the next full collection, and its pointers into the young generation kept the whole request (its closures,
 * buffers' wrappers, node:http objects) alive through every scavenge in between: ~30% of what the gateway allocated
 * was copied or promoted instead of ~5%, a full collection every ~0.2 s, and ~40% more CPU per stream in the runs
 * that fell into it (bench/NOTES.md, "Young-generation survival"). Without pretenuring, objects that do live long
 * (caches, the routing twin) are promoted after two scavenges, as everything else is.
 *
 * Flags that size the heap at isolate creation (`--max-semi-space-size`) cannot be set from here; the gateway leaves
 * them at Node's defaults. An operator's own value of either flag on node's command line
 * (`node --heap-growing-percent=100 bin/infergate.mjs`, `--allocation-site-pretenuring`; NODE_OPTIONS does not take V8
 * flags) wins.
 */
import { setFlagsFromString } from 'node:v8';

export const HEAP_GROWING_PERCENT = 50;

/** The V8 flag each setting is about (how an operator would spell it) and what the gateway sets. */
const SETTINGS: readonly { readonly flag: string; readonly value: string }[] = [
  { flag: 'heap-growing-percent', value: `--heap-growing-percent=${HEAP_GROWING_PERCENT}` },
  { flag: 'allocation-site-pretenuring', value: '--no-allocation-site-pretenuring' },
];

/** Whether node's command line already sets the flag, in any spelling V8 accepts (`_` for `-`, a `no` prefix). */
function operatorSet(flag: string): boolean {
  const names = [flag, flag.replace(/-/g, '_')];
  const spellings = names.flatMap((n) => [`--${n}`, `--no-${n}`, `--no${n}`, `--no_${n}`]);
  return process.execArgv.some((a) => spellings.some((s) => a === s || a.startsWith(`${s}=`)));
}

/** What this module set (without the settings the operator chose themselves); tests read it. */
export const heapSettings: readonly string[] = SETTINGS.filter((s) => !operatorSet(s.flag)).map((s) => s.value);
for (const flag of heapSettings) setFlagsFromString(flag);
