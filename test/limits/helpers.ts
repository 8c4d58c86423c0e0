import assert from 'node:assert/strict';
import { z } from 'zod';
import { governanceShape } from '../../src/config/governance-schema.js';
import { GatewayError } from '../../src/core/index.js';
import { compileLimitRules, type CompiledLimits } from '../../src/limits/index.js';

const sections = z.strictObject({ limits: governanceShape.limits, quotas: governanceShape.quotas });

/** Rules through the real schema, as a YAML file would give them. */
export function rules(limits: unknown[], quotas: unknown[] = []): CompiledLimits {
  const parsed = sections.parse({ limits, quotas });
  return compileLimitRules(parsed.limits, parsed.quotas);
}

export function refusal(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof GatewayError, String(err));
    assert.equal(err.status, 429);
    return err;
  }
  assert.fail('expected a 429');
}

export const alice = { subject: 'alice', team: 'research', model: 'llama' } as const;
