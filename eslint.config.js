// Lint: typescript-eslint's recommended rules plus the layering of ARCHITECTURE.md, so it cannot rot.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NODE_BUILTINS = ['node:*', 'fs', 'path', 'os', 'child_process', 'crypto', 'http', 'net', 'zlib', 'worker_threads'];
const NATIVE = ['better-sqlite3', 'onnxruntime-node', 'ws', 'electron'];
const DOM_GLOBALS = ['document', 'window', 'navigator', 'location', 'localStorage', 'sessionStorage', 'requestAnimationFrame', 'HTMLElement', 'Element', 'Node', 'DOMParser', 'Worker', 'Blob'];
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
    files: ['core/onnx/**/*.ts', 'core/profile/**/*.ts', 'core/quant/**/*.ts', 'core/accuracy/**/*.ts', 'core/plan/**/*.ts', 'core/util/**/*.ts'],
    rules: restrict([...NATIVE, '../store/*', '../run/*', '../host/*', '../rpc/*'], 'Engine modules stay pure: no SQLite, ONNX Runtime, sockets; no reaching up into store/run/host.'),
  },
  {
    // The notebook runs in the page and headless in the CLI: core/api, core/rpc and the pure engine only; no Node,
    // no DOM (not even through a library that needs one).
    files: ['core/notebook/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: [...NODE_BUILTINS, ...NATIVE, '@observablehq/plot', 'linkedom', 'monaco-editor', 'monaco-editor/*'], message: 'core/notebook has no Node and no DOM: it runs in the page and in the CLI alike.' },
            { regex: '^\\.\\./(store|run|host)/|(^|/)renderer/', message: 'core/notebook may import core/api, core/rpc and the pure engine modules only.' },
          ],
        },
      ],
      'no-restricted-globals': ['error', ...DOM_GLOBALS.map((name) => ({ name, message: 'core/notebook has no DOM: the renderer (or the CLI) shows what it computes.' }))],
    },
  },
  {
    // A regex on the path, not a relative group ('../core/store/*'), which missed files in subfolders such as
    // renderer/notebook/: any path through core/ other than api, rpc and notebook is refused, at any depth.
    files: ['renderer/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: [...NODE_BUILTINS, ...NATIVE], message: 'The renderer never imports Node or Electron.' },
            { regex: '(^|/)core/(?!(api|rpc|notebook)/)|(^|/)electron/', message: 'The renderer talks to the core only through core/api, core/rpc and core/notebook.' },
          ],
        },
      ],
    },
  },
);
