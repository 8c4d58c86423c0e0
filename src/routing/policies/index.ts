import type { PolicyName } from '../types.js';
import { eppDefault } from './epp.js';
import type { Policy } from './policy.js';
import { lmetric, sglangCacheAware } from './sglang.js';
import { leastRequests, powerOfTwo, random, roundRobin, weighted } from './simple.js';
import { stickyUntilSaturated } from './sticky.js';
import { tokenAware, type TokenAwarePolicy } from './token-aware.js';

export type { Policy, PoolMemory, DecisionContext } from './policy.js';
export { createPoolMemory, orderByCost } from './policy.js';
export { createTokenAware, type TokenAwareOptions, type TokenAwarePolicy, type CandidateCost } from './token-aware.js';

export const POLICIES: Readonly<Record<PolicyName, Policy>> = Object.freeze({
  round_robin: roundRobin,
  random,
  least_requests: leastRequests,
  power_of_two: powerOfTwo,
  weighted,
  epp_default: eppDefault,
  sticky_until_saturated: stickyUntilSaturated,
  sglang_cache_aware: sglangCacheAware,
  lmetric,
  token_aware: tokenAware,
});

export function isTokenAware(p: Policy): p is TokenAwarePolicy {
  return 'saturated' in p && typeof (p as TokenAwarePolicy).saturated === 'function';
}
