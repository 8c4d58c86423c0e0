export { createAuthenticator, type Authenticator, type AuthenticatorOptions, type AuthenticatorStats, type AuthPrincipal } from './authenticator.js';
export { compileAuthConfig, type CompiledAuth, type CompiledIssuer, type CompileAuthOptions } from './compile.js';
export { AuthConfigError } from './key-material.js';
export { authorize, authorizeEndpoint, canUseModel, permits, requireAdmin, compilePermissions, permissionsOf, type Permissions } from './permissions.js';
export { authFailureOf, refusedCallerOf, type AuthFailure } from './failures.js';
export { ensureDevSecret } from './dev-secret.js';
export { mintDevToken, DEV_ISSUER, DEV_AUDIENCE, type MintDevTokenOptions } from './dev-token.js';
export type { JwksStats } from './jwks-source.js';
export type { ApiKeyVerifier } from './authenticator.js';
export {
  openKeyRegistry,
  sqliteKeysPath,
  createKeyRegistry,
  createSqliteKeyStore,
  parseCreateKey,
  parseUpdateKey,
  parseRotateKey,
  KEY_ID_SHAPE,
  type KeyRegistry,
  type KeyView,
  type KeyLimits,
  type KeyStore,
  type KeyRow,
} from './keys/index.js';
