import type { LimitSubject } from './rules.js';

// Callers are few and repeat; the bound only guards against a flood of distinct subjects (then it starts over).
const MAX_PLANS = 10_000;

/**
 * Per-caller plans (the rules that apply to one subject, team, model and key, with their state keys): fixed for a
 * config, so built once. Nested maps: no key strings to build per request, no separator a subject could contain.
 */
export function createPlanCache<P>(build: (who: LimitSubject) => P): { get(who: LimitSubject): P } {
  let bySubject = new Map<string, Map<string | null, Map<string, Map<string | null, P>>>>();
  let size = 0;
  return {
    get(who) {
      const apiKey = who.key ?? null;
      let byTeam = bySubject.get(who.subject);
      let byModel = byTeam?.get(who.team);
      let byKey = byModel?.get(who.model);
      let plan = byKey?.get(apiKey);
      if (plan !== undefined) return plan;
      if (size >= MAX_PLANS) {
        bySubject = new Map();
        size = 0;
        byTeam = undefined;
        byModel = undefined;
        byKey = undefined;
      }
      if (!byTeam) bySubject.set(who.subject, (byTeam = new Map()));
      if (!byModel) byTeam.set(who.team, (byModel = new Map()));
      if (!byKey) byModel.set(who.model, (byKey = new Map()));
      plan = build(who);
      byKey.set(apiKey, plan);
      size++;
      return plan;
    },
  };
}
