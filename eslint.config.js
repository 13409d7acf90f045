import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import { fileURLToPath, URL } from 'node:url';
import { layersPlugin } from './scripts/layers.mjs';

const src = fileURLToPath(new URL('./src', import.meta.url));

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'scratch/', '**/.trireme/', 'test/.snippets/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    // The command's entry and the build scripts are plain Node JavaScript.
    files: ['bin/**/*.cjs', 'scripts/**/*.mjs', 'test/**/*.mjs'],
    languageOptions: { globals: globals.node },
  },
  {
    files: ['bin/**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The dashboard is plain browser JavaScript, served as it is.
    files: ['src/dashboard/**/*.js'],
    languageOptions: { globals: globals.browser, sourceType: 'module' },
  },
  {
    // The layering of src/ (scripts/layers.mjs): what each folder may import, and which folders the datastores'
    // clients and the HTTP server stay behind.
    files: ['src/**/*.ts'],
    plugins: { trireme: layersPlugin(src) },
    rules: { 'trireme/layers': 'error' },
  },
  {
    // core/ is pure: no I/O, no clock (see ARCHITECTURE.md). Last, so that no broader block overrides its rules
    // (test/unit/lint.test.ts proves they fire).
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['bullmq', 'ioredis', 'node:*', 'fastify', 'pino'] }],
      'no-restricted-properties': ['error', { object: 'Date', property: 'now', message: 'core/ takes `now` as an argument' }],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'core/ takes `now` as an argument' }],
    },
  },
);
