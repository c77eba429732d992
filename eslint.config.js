// Lint rules: a small set that holds the line the code already follows.
// Run: npm run lint (CI runs it from .ci/run).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Objects built from request input (query strings, bodies, form fields, template parameters). */
const REQUEST_INPUT = '^(params|query|source|body|fields|overrides|sourceIfPlusIsSpace)$';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/out/**', 'data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // A promise nobody awaits is an error nobody sees (and, in a route, an unhandled rejection).
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test runs what test() and describe() return itself.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      // A variable a closure reads before its one assignment (t.after(() => closed ?? ...)) stays `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-restricted-syntax': [
        'error',
        {
          // `params[name]` on request input reads Object.prototype for `constructor`, `__proto__`...:
          // look up names with Object.hasOwn (quickchart-params.ts `pick`) or a Map.
          selector: `MemberExpression[computed=true][object.name=/${REQUEST_INPUT}/][property.type!='Literal']`,
          message: 'Do not index request input with a computed name: use Object.hasOwn first (see pick() in quickchart-params.ts) or a Map.',
        },
        {
          selector: "BinaryExpression[operator='in'][right.name=/" + REQUEST_INPUT + '/]',
          message: '`in` walks the prototype chain: use Object.hasOwn on request input.',
        },
      ],
    },
  },
  {
    // Tests and benchmarks reshape configs freely.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      globals: Object.fromEntries(
        ['process', 'console', 'URL', 'Buffer', 'fetch', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'performance'].map((name) => [name, 'readonly']),
      ),
    },
  },
);
