/**
 * The gateway's V8 heap setting, applied when this module is evaluated: src/main.ts imports it first, so it holds on
 * every start path that runs main (bin/infergate.mjs, `npm start`, the Docker image's CMD, the supervisor's forked
 * workers, which run main again) without a node flag that a user could leave out.
 *
 * V8 sets a heap's next full collection at the size that survived the last one times a growing factor that it picks
 * between 1.1 and 4 from the allocation and collection speeds, the upper end allowed when the heap may grow past 2 GiB
 * (Node's default on 64-bit). Under load the gateway keeps ~27 MB of live objects and allocates fast, so its old
 * space grew to 50–90 MB, mostly dead objects, and the full stack's peak RSS to 240–260 MB (bench/NOTES.md,
 * "Memory"). A fixed 50% growth keeps the old space within ~1.5x of what is live; in an A/B run it cost no measurable
 * CPU per request, where 30% cost 2–4% (a full collection every ~0.5 s under load). The heap's maximum is unchanged:
 * a burst that needs more memory gets it, and collects more often.
 *
 * `--heap-growing-percent` is read at each full collection, so setting it at run time takes effect (measured: the
 * same peak as passing it on node's command line). Flags that size the heap at isolate creation
 * (`--max-semi-space-size`) would not; the gateway leaves them at Node's defaults. An operator's own value on node's
 * command line (`node --heap-growing-percent=100 bin/infergate.mjs`; NODE_OPTIONS does not take V8 flags) wins.
 */
import { setFlagsFromString } from 'node:v8';

export const HEAP_GROWING_PERCENT = 50;

const FLAG = '--heap-growing-percent';

/** Whether node's command line already sets the flag (V8 accepts both spellings). */
function operatorSet(flag: string): boolean {
  const alt = `--${flag.slice(2).replace(/-/g, '_')}`;
  return process.execArgv.some((a) => a.startsWith(flag) || a.startsWith(alt));
}

/** What this module set (empty when the operator chose their own value), for the start-up log and tests. */
export const heapSettings: readonly string[] = operatorSet(FLAG) ? [] : [`${FLAG}=${HEAP_GROWING_PERCENT}`];
for (const flag of heapSettings) setFlagsFromString(flag);
