// Lint: typescript-eslint's recommended rules plus the layering of ARCHITECTURE.md, so it cannot rot.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NODE_BUILTINS = ['node:*', 'fs', 'path', 'os', 'child_process', 'crypto', 'http', 'net', 'zlib', 'worker_threads'];
const NATIVE = ['better-sqlite3', 'onnxruntime-node', 'ws', 'electron'];
const restrict = (patterns, message) => ({
  'no-restricted-imports': ['error', { patterns: [{ group: patterns, message }] }],
});

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.scratch/**', 'core/onnx/generated/**', 'test/output/**', 'experiments/zoo/**/*.py'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Plain-JS entry points run in Node.
    files: ['bin/**/*.js', 'scripts/**/*.js', '*.config.js'],
    languageOptions: { globals: { process: 'readonly', URL: 'readonly', console: 'readonly' } },
  },
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['core/api/**/*.ts'],
    // A regex rather than a group: gitignore-style negations ('!./*') never match relative specifiers, which made
    // even sibling imports inside core/api an error.
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^(?!zod$|\\./(?!\\.)[^/]+$|\\.\\./api/(?!\\.)[^/]+$)', message: 'core/api is the contract: it may import zod (and its own files) only.' }] },
      ],
    },
  },
  {
    files: ['core/rpc/**/*.ts'],
    rules: restrict([...NODE_BUILTINS, ...NATIVE, '../onnx/*', '../profile/*', '../quant/*', '../accuracy/*', '../plan/*', '../run/*', '../store/*', '../notebook/*', '../host/*'], 'core/rpc may import core/api only.'),
  },
  {
    files: ['core/onnx/**/*.ts', 'core/profile/**/*.ts', 'core/quant/**/*.ts', 'core/accuracy/**/*.ts', 'core/plan/**/*.ts', 'core/notebook/**/*.ts', 'core/util/**/*.ts'],
    rules: restrict([...NATIVE, '../store/*', '../run/*', '../host/*', '../rpc/*'], 'Engine modules stay pure: no SQLite, ONNX Runtime, sockets; no reaching up into store/run/host.'),
  },
  {
    files: ['renderer/**/*.ts'],
    rules: restrict([...NODE_BUILTINS, ...NATIVE, '../core/onnx/*', '../core/store/*', '../core/run/*', '../core/host/*'], 'The renderer talks to the core only through core/api and core/rpc.'),
  },
);
