export { configSchema, BACKEND_KINDS, POLICIES } from './schema.js';
export { sectionAlternatives } from './governance-schema.js';
export type { Config, ConfigInput, BackendConfig, ModelConfig, SimConfig, RoutingConfig } from './schema.js';
export { parseConfigText, loadConfigFile, ConfigError, formatProblem, problemLines, type ConfigProblem } from './load.js';
export {
  compileConfig,
  type RuntimeConfig,
  type CompiledModel,
  type CompiledBackend,
  type CompiledPool,
  type CompileOptions,
  type CompiledRouting,
  type CompiledRouterOptions,
} from './compile.js';
export { watchConfigFile, type ConfigWatcher } from './watch.js';
export type { KeysSection, KeysConfig } from './keys-schema.js';
export type {
  AuthSection,
  AuthConfig,
  IssuerConfig,
  ClaimsConfig,
  JwtAlgorithm,
  LimitRuleConfig,
  QuotaRuleConfig,
  MatchConfig,
  UsageSection,
  UsageConfig,
} from './governance-schema.js';
