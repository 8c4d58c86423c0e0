/**
 * The module table of ../shared/design/architecture.md, enforced. A rule here that fails names the import that
 * broke the house: fix the design (and this file, and architecture.md) together, never one alone.
 */
const FEATURES = ['auth', 'limits', 'routing', 'upstream', 'usage'];
// Shared state across processes and replicas (leases) is ground that these features stand on, beside core/.
const ON_STATE = ['limits', 'routing'];
const featureRules = FEATURES.map((f) => ({
  name: `${f}-is-independent`,
  comment: `${f}/ may import core/, telemetry/${ON_STATE.includes(f) ? ', state/' : ''} and config types only; feature modules never import each other`,
  severity: 'error',
  from: { path: `^src/${f}/` },
  to: {
    path: ON_STATE.includes(f) ? `^src/(?!(core|telemetry|state|${f})/)` : `^src/(?!(core|telemetry|${f})/)`,
    pathNot: '^src/config/',
  },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-is-framework-free',
      comment: 'core/ imports Node built-ins only',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { pathNot: '^src/core/|^node:', dependencyTypesNot: ['core'] },
    },
    {
      name: 'config-imports-core-only',
      severity: 'error',
      from: { path: '^src/config/' },
      to: { path: '^src/(?!(core|config)/)' },
    },
    {
      name: 'state-imports-core-only',
      comment: 'state/ (leases over IPC or Redis) is shared ground beside core/: it imports core/ only',
      severity: 'error',
      from: { path: '^src/state/' },
      to: { path: '^src/(?!(core|state)/)' },
    },
    {
      name: 'telemetry-imports-core-only',
      severity: 'error',
      from: { path: '^src/telemetry/' },
      to: { path: '^src/(?!(core|telemetry)/)' },
    },
    {
      name: 'config-types-only-in-features',
      comment: 'feature modules may use config types, not config code',
      severity: 'error',
      from: { path: `^src/(${FEATURES.join('|')})/` },
      to: { path: '^src/config/', dependencyTypesNot: ['type-only'] },
    },
    ...featureRules,
    {
      name: 'only-api-and-server-see-hono',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(api|server)/' },
      to: { path: 'node_modules/(hono|@hono/)' },
    },
    {
      name: 'api-orchestrates-below-only',
      severity: 'error',
      from: { path: '^src/api/' },
      to: { path: '^src/(server|sim)/|^src/main\\.ts$' },
    },
    {
      name: 'console-reads-core-only',
      comment: 'console/ (the web console\'s server side) gets its data from server/, which wires it; it imports core/ and itself',
      severity: 'error',
      from: { path: '^src/console/', pathNot: '^src/console/web/' },
      to: { path: '^src/(?!(core|console)/)' },
    },
    {
      name: 'console-web-is-browser-code',
      comment: 'the console front end (bundled by esbuild) sees only itself and the wire types; no Node built-ins',
      severity: 'error',
      from: { path: '^src/console/web/' },
      to: { path: '^src/(?!console/(web/|wire\\.ts$))' },
    },
    {
      name: 'console-web-has-no-node',
      severity: 'error',
      from: { path: '^src/console/web/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'only-server-wires-the-console',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(server|console)/' },
      to: { path: '^src/console/' },
    },
    {
      name: 'sim-stays-out-of-the-gateway',
      comment: 'the simulator is never imported by gateway runtime code (only main.ts starts the embedded default)',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(sim/|main\\.ts$)' },
      to: { path: '^src/sim/' },
    },
    {
      name: 'sim-imports-core-and-api-types',
      severity: 'error',
      from: { path: '^src/sim/', pathNot: '^src/sim/des/' },
      to: { path: '^src/(?!(core|sim)/)', pathNot: '^src/api/' },
    },
    {
      name: 'des-runs-the-real-routing-code',
      comment: 'the discrete-event harness drives the very routing code the server runs, and nothing else of the gateway',
      severity: 'error',
      from: { path: '^src/sim/des/' },
      to: { path: '^src/(?!(core|sim|routing)/)', pathNot: '^src/api/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts'] },
    moduleSystems: ['es6', 'cjs'],
  },
};
