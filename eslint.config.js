// eslint for the dashboard's own scripts (flower/static/js): plain browser scripts, no build step, each an
// IIFE in strict mode that reads jQuery, DataTables and bootstrap from the page's globals.
'use strict';

const js = require('@eslint/js');
const globals = require('globals');

module.exports = [
  js.configs.recommended,
  {
    files: ['flower/static/js/**/*.js'],
    languageOptions: {
      ecmaVersion: 2020,
      sourceType: 'script',
      globals: { ...globals.browser, jQuery: 'readonly', $: 'readonly', bootstrap: 'readonly', DataTable: 'readonly', Flower: 'readonly' },
    },
    rules: {
      // a caught error that is not read is deliberate: the fallback is the handling
      'no-unused-vars': ['error', { args: 'none', caughtErrors: 'none' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-implicit-globals': 'error',
      strict: ['error', 'function'],
    },
  },
];
