// @ts-check
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

// Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no I/O libraries.
const forbiddenInWorkflows = [
  ...builtinModules,
  ...builtinModules.map((m) => `node:${m}`),
  '@temporalio/activity',
  '@temporalio/client',
  '@temporalio/worker',
  'pino',
  'tar',
  'yaml',
  'commander',
];

// The layers, lowest first (see ARCHITECTURE.md): lib ← workflows, activities ← client ← workers ← cli;
// devkit, scripts and tests sit on top. A module may import its own layer and those below it.
const layer = (dir) => `**/${dir}/**`;
const above = {
  lib: ['workflows', 'activities', 'client', 'workers', 'cli', 'devkit', 'scripts', 'test'],
  workflows: ['activities', 'client', 'workers', 'cli', 'devkit', 'scripts', 'test'],
  activities: ['workflows', 'client', 'workers', 'cli', 'devkit', 'scripts', 'test'],
  client: ['activities', 'workers', 'cli', 'devkit', 'scripts', 'test'],
  workers: ['cli', 'devkit', 'scripts', 'test'],
  cli: ['devkit', 'scripts', 'test'],
};
const layerRule = (name, extra = [], allowTypeImports = false) => ({
  '@typescript-eslint/no-restricted-imports': [
    'error',
    {
      patterns: [
        {
          group: above[name].map(layer),
          allowTypeImports,
          message: `layer violation: ${name}/ imports only from its own layer and those below it (ARCHITECTURE.md)`,
        },
        ...extra,
      ],
    },
  ],
});
const noTemporal = { group: ['@temporalio/*'], message: 'lib/ is plain typed domain code: no Temporal imports (put Temporal code in workflows/, activities/, client/ or workers/).' };

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'test-results/', 'examples/app/**/*.js', 'test/fixtures/**/*.js', 'bin/', 'client/failure-converter.cjs'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  { files: ['lib/**/*.ts'], rules: layerRule('lib', [noTemporal]) },
  // Types carry no code: a workflow names its activities' types, as proxyActivities needs.
  { files: ['workflows/**/*.ts'], rules: layerRule('workflows', [], true) },
  { files: ['activities/**/*.ts'], rules: layerRule('activities') },
  { files: ['client/**/*.ts'], rules: layerRule('client') },
  { files: ['workers/**/*.ts'], rules: layerRule('workers') },
  // The demo is the one command that starts the local stack (loaded lazily: the image has no devkit).
  { files: ['cli/**/*.ts'], ignores: ['cli/commands/demo.ts'], rules: layerRule('cli') },
  {
    // Workflow code, and the plain modules it imports, must be deterministic.
    files: ['workflows/**/*.ts', 'lib/config/environment-schema.ts', 'lib/config/environment-rules.ts', 'lib/config/duration.ts', 'lib/core/failure-types.ts', 'lib/rollout/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: forbiddenInWorkflows.map((name) => ({ name, message: 'Workflow code must be deterministic: no Node built-ins or I/O.' })) },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setInterval', message: 'Use sleep() from @temporalio/workflow.' },
        { name: 'fetch', message: 'Do I/O in activities.' },
        { name: 'process', message: 'Workflow code must not read the process environment.' },
      ],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'Randomness breaks replay.' }],
    },
  },
  {
    // Entry points and tests may print to the terminal.
    files: ['cli/**/*.ts', 'scripts/**/*.ts', 'devkit/**/*.ts', 'test/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['eslint.config.js', 'vitest.config.ts'],
    ...tseslint.configs.disableTypeChecked,
  },
);
