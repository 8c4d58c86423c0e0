import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ANONYMOUS, GatewayError, type Principal } from '../../src/core/index.js';
import { authorize, canUseModel, compilePermissions, requireAdmin } from '../../src/auth/index.js';

const who = (...scopes: string[]): Principal => ({ subject: 's', team: null, scopes: new Set(scopes) });

function forbidden(fn: () => void): GatewayError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.status, 403);
    return err;
  }
  assert.fail('expected 403');
}

describe('model scopes', () => {
  it('grants an exact model on every endpoint', () => {
    const p = who('models:llama-3.1-8b');
    for (const ep of ['chat', 'completions', 'embeddings'] as const) authorize(p, 'llama-3.1-8b', ep);
    const err = forbidden(() => authorize(p, 'llama-3.1-70b', 'chat'));
    assert.equal(err.message, 'Your token does not grant access to model "llama-3.1-70b"');
    assert.equal(err.param, 'model');
  });

  it('limits a grant to one operation and says which one is missing', () => {
    const p = who('models:bge-*:embeddings');
    authorize(p, 'bge-m3', 'embeddings');
    const err = forbidden(() => authorize(p, 'bge-m3', 'chat'));
    assert.match(err.message, /"bge-m3" for chat/);
    assert.equal(canUseModel(p, 'bge-m3'), true);
    assert.equal(canUseModel(p, 'llama'), false);
  });

  it('matches globs with * and ? across slashes and colons', () => {
    const p = who('models:meta-llama/*', 'models:qwen?-7b', 'models:*:8b:chat');
    assert.equal(canUseModel(p, 'meta-llama/Llama-3.1-8B'), true);
    assert.equal(canUseModel(p, 'qwen2-7b'), true);
    assert.equal(canUseModel(p, 'qwen25-7b'), false);
    assert.equal(canUseModel(who('models:llama*'), 'llama'), true, 'a trailing * also matches nothing');
    assert.equal(canUseModel(who('models:*llama'), 'xllam'), false);
    authorize(p, 'llama3:8b', 'chat');
    forbidden(() => authorize(p, 'llama3:8b', 'completions'));
  });

  it('keeps model names containing a colon intact when the tail is not an operation', () => {
    const p = who('models:llama3:8b');
    authorize(p, 'llama3:8b', 'completions');
    assert.equal(canUseModel(p, 'llama3'), false);
  });

  it('treats odd globs literally or safely', () => {
    const p = who('models:', 'models::chat', 'models:a.b+(c)[d]', 'models:***', 'notmodels:x', 'models');
    assert.equal(canUseModel(p, 'a.b+(c)[d]'), true, 'regex characters are literal');
    assert.equal(canUseModel(p, 'anything'), true, 'a run of stars is one star');
    const q = who('models:', 'models::chat', 'models:a.b', 'models');
    assert.equal(canUseModel(q, 'axb'), false, '. is not a wildcard');
    assert.equal(canUseModel(q, ''), false, 'empty patterns grant nothing');
    assert.equal(canUseModel(q, 'models'), false);
  });

  it('matches pathological globs in linear-ish time', () => {
    const p = who(`models:${'a*'.repeat(40)}b`);
    const start = performance.now();
    assert.equal(canUseModel(p, 'a'.repeat(200)), false);
    assert.ok(performance.now() - start < 50);
  });

  it('accepts any of several names of a model (alias and canonical)', () => {
    const p = who('models:llama-3.1-8b');
    authorize(p, ['llama3-8b', 'llama-3.1-8b'], 'chat');
    const err = forbidden(() => authorize(p, ['other', 'other-canonical'], 'chat'));
    assert.match(err.message, /"other"/);
  });

  it('grants admin only with the admin scope, and everything to the anonymous principal', () => {
    requireAdmin(who('admin'));
    forbidden(() => requireAdmin(who('models:*')));
    requireAdmin(ANONYMOUS);
    authorize(ANONYMOUS, 'whatever', 'chat');
    assert.equal(compilePermissions(['models:*']).admin, false);
  });

  it('grants nothing without scopes', () => {
    forbidden(() => authorize(who(), 'm', 'chat'));
    assert.equal(canUseModel(who('unrelated', 'read:users'), 'm'), false);
  });
});
