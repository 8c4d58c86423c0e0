export { createKeyRegistry, type KeyRegistry, type KeyRegistryOptions, type KeyInput, type KeyPatch, type KeyRegistryStats } from './registry.js';
export { keyRules, type KeyRuleSet } from './rules.js';
export { createSqliteKeyStore, type KeyStore } from './sqlite-store.js';
export { openKeyRegistry, readPepper, sqliteKeysPath, type OpenKeysOptions } from './open.js';
export { parseCreateKey, parseUpdateKey, parseRotateKey } from './admin-input.js';
export { KEY_PREFIX, KEY_ID_SHAPE, hashKey, keyIdOf } from './format.js';
export { KEY_ISSUER, type KeyView, type KeyLimits, type KeyRow } from './record.js';
