import type { RequestCtx } from '../core/index.js';
import type { CompiledModel } from '../config/index.js';
import { quotaLeftOf, refusalKindOf, type Limiter, type Reservation, type ReserveRequest } from '../limits/index.js';
import { minOutputOf, type Prepared } from './prepare.js';

/**
 * Reserves a request against its caller's limits and quotas and sizes `who.estimatedTokens`: the prompt plus the
 * output reserved per choice, which the caller reads back as the output cap to tell the backend. A request without a
 * cap of its own is reserved the model's output allowance per choice (never under the reserve or its own
 * min_tokens), but never past what the caller's tightest token limit or quota could ever admit: a reserve larger
 * than the limit would refuse every request sent without a cap, for good.
 *
 * One such request refused by a quota that still has room for some of its output is admitted with its output capped
 * to that room: a daily quota does not come back by waiting, so the last few thousand tokens of every quota would
 * otherwise be out of reach of every uncapped request. A rate limit's refusal stands (waiting gives a whole answer).
 * Synchronous while the limiter is: nothing is allocated here on the way of a request that is admitted.
 */
export function admit(limiter: Limiter, who: Sized, p: Prepared, model: CompiledModel, promptTokens: number, estimate: number, headers: Record<string, string>): Reservation | Promise<Reservation> {
  let perChoice = estimate;
  if (estimate > 0 && p.route.maxTokens === null) {
    perChoice = Math.max(estimate, model.outputReserve, minOutputOf(p));
    const room = Math.floor((limiter.tokenCeiling(who) - promptTokens) / p.choices);
    if (room < perChoice) perChoice = Math.max(room, minOutputOf(p), 1);
  }
  who.estimatedTokens = promptTokens + perChoice * p.choices;
  let r: Reservation | Promise<Reservation>;
  try {
    r = limiter.reserve(who, headers);
  } catch (err) {
    return withinQuota(err, limiter, who, p, promptTokens, perChoice, headers);
  }
  return r instanceof Promise ? r.catch((err: unknown) => withinQuota(err, limiter, who, p, promptTokens, perChoice, headers)) : r;
}

type Sized = ReserveRequest & { estimatedTokens: number };

/** The output reserved per choice by `admit` (the cap the backend is told). */
export const perChoiceOf = (who: Sized, p: Prepared, promptTokens: number): number => (who.estimatedTokens - promptTokens) / p.choices;

/** Tokens kept back from a quota's last answer for the prompt estimate's error (at least, or 5% of the prompt). */
const PROMPT_MARGIN = 32;

/** `admit`'s second try, capped to a refusing quota's room; once: a second refusal (others took the room) stands. */
async function withinQuota(err: unknown, limiter: Limiter, who: Sized, p: Prepared, promptTokens: number, perChoice: number, headers: Record<string, string>): Promise<Reservation> {
  const left = p.route.maxTokens === null || p.defaultedCap ? quotaLeftOf(err) : undefined;
  // The prompt is an estimate (chat templates add a few tokens per message that the gateway cannot see): capped to
  // the last token, the backend's real count would overrun the quota by the difference.
  const margin = Math.max(PROMPT_MARGIN, Math.ceil(promptTokens * 0.05));
  const room = left === undefined ? 0 : Math.floor((left - promptTokens - margin) / p.choices);
  if (room < Math.max(minOutputOf(p), 1) || room >= perChoice) throw err;
  who.estimatedTokens = promptTokens + room * p.choices;
  return limiter.reserve(who, headers);
}

/**
 * Admits the request on a fallback model inside its reservation: the fallback's own rules must admit it, and the
 * rules it shares with the models tried before (the caller's own limits and quotas) count the request once.
 */
export function fallbackAdmission(limiter: Limiter, ctx: RequestCtx, reservation: Reservation): (m: CompiledModel) => Promise<boolean> {
  return async (m) => {
    try {
      const r = limiter.extend(reservation, { subject: ctx.principal.subject, team: ctx.principal.team, model: m.name, key: ctx.principal.keyId ?? null });
      if (r instanceof Promise) await r;
      return true;
    } catch (err) {
      if (refusalKindOf(err) !== null) return false;
      throw err;
    }
  };
}
