import { createManualClock } from '../../src/core/index.js';
import { RoutingCore } from '../../src/routing/core.js';
import { createRng } from '../../src/routing/rng.js';
import type { BackendTarget, PolicyName, PoolSpec, RouteRequest } from '../../src/routing/types.js';

export function targets(n: number, weights: readonly number[] = []): BackendTarget[] {
  return Array.from({ length: n }, (_, i) => ({ id: `http://b${i}:8000`, url: `http://b${i}:8000`, kind: 'vllm' as const, weight: weights[i] ?? 1, model: 'm' }));
}

export function pool(policy: PolicyName, t: readonly BackendTarget[]): PoolSpec {
  return { name: 'm', policy, targets: t };
}

/** A prompt of `tokens` tokens rendered at 4 chars/token, starting with `prefix` (so prompts can share a start). */
export function request(tokens: number, prefix = '', session: string | null = null, maxTokens: number | null = 100): RouteRequest {
  const chars = tokens * 4;
  let text = prefix;
  let i = 0;
  while (text.length < chars) text += `w${(i++).toString(36)} `;
  return { endpoint: 'completions', promptTokens: tokens, promptText: text.slice(0, chars), maxTokens, sessionKey: session };
}

/** Text of n chars unique to `seed`, to build prompts sharing a known prefix. */
export function text(chars: number, seed: string): string {
  let s = '';
  let i = 0;
  while (s.length < chars) s += `${seed}${(i++).toString(36)} `;
  return s.slice(0, chars);
}

export function setup(seed = 1) {
  const clock = createManualClock();
  const fired: (() => void)[] = [];
  const timers = {
    after(ms: number, fn: () => void) {
      const at = clock.now() + ms;
      const entry = () => {
        if (clock.now() >= at) fn();
      };
      fired.push(entry);
      return () => {
        const i = fired.indexOf(entry);
        if (i >= 0) fired.splice(i, 1);
      };
    },
  };
  const core = new RoutingCore({ clock, rng: createRng(seed), timers });
  /** Advances the clock and runs due timers. */
  const advance = (ms: number) => {
    clock.advance(ms);
    for (const f of fired.slice()) f();
  };
  return { clock, core, advance };
}
