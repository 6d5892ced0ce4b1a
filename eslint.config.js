// Lint for the whole repository: typescript-eslint's recommended rules on every package, and the
// extension's capability boundaries (extension/README.md, "Where things live").
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const CAPABILITIES = ['node', 'net', 'blocks', 'cache', 'content', 'storage', 'rewards', 'page-api', 'ui']

/** Imports of the named extension/src folders, from a file one folder deep in extension/src. */
function siblings (names, message, allowTypeImports = false) {
  return { regex: `^\\.\\./(${names.join('|')})/`, message, allowTypeImports }
}

/** One boundary: `files` (under extension/src) may not import what `patterns` name. */
function boundary (files, patterns, ignores = []) {
  return {
    files: files.map(f => `extension/src/${f}`),
    ignores: ignores.map(f => `extension/src/${f}`),
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns }] }
  }
}

const except = (...names) => CAPABILITIES.filter(name => !names.includes(name))
const PAGE_API_CONTEXTS = ['page', 'content-script', 'worker', 'node', 'ui']
const otherContexts = (self, ...allowed) => ({
  regex: `^\\.\\./(${PAGE_API_CONTEXTS.filter(c => c !== self && !allowed.includes(c)).join('|')})/`,
  message: 'each page-API context talks to the others through messages (page-api/wire.ts), not imports'
})

const boundaries = [
  // the pages see the node only through its RPC: node-client.ts and the types it re-exports
  boundary(['ui/**'], [siblings(except('page-api'), 'the UI reaches the node through ui/node-client.ts (its RPC), never its internals'),
    { regex: '^\\.\\./page-api/(?!ui/)', message: 'the UI shows page-API state that the node RPC returns; only page-api/ui components are imported' }], ['ui/node-client.ts']),
  boundary(['ui/node-client.ts'], [siblings(except('page-api'), 'node-client.ts may name the types of the node\'s answers, nothing that runs', true)]),
  boundary(['node/**'], [siblings(['ui', 'page-api'], 'the node is wired before the page API and knows nothing of pages')]),
  boundary(['content/**'], [siblings(['node', 'ui', 'page-api', 'rewards'], 'content/ reads through blocks/ and cache/; the node wires it')]),
  boundary(['blocks/**'], [siblings(['node', 'ui', 'page-api', 'content', 'rewards'], 'blocks/ serves and fetches blocks; it never calls up into content/, the node or the page API')]),
  boundary(['cache/**'], [siblings(except('cache', 'storage'), 'cache/ is below everything but storage/')]),
  boundary(['net/**'], [siblings(except('net', 'storage'), 'net/ is the libp2p layer; nothing above it is imported')]),
  boundary(['storage/**'], [siblings(except('storage'), 'storage/ is the bottom floor: it defines the records others keep and imports none of them')]),
  boundary(['rewards/**'], [siblings(['node', 'ui', 'page-api', 'content'], 'rewards/ is wired by the node; it never calls up into it')]),
  // calls/ is a capability the offscreen document hands the node; the page API reaches it, never the reverse
  boundary(['calls/**'], [
    { regex: '^\\.\\./(node|ui|page-api|content|blocks|cache)/', message: 'calls/ runs on the node\'s libp2p as a capability: it may use storage/, net/ and rewards/, nothing above' },
    { regex: '^\\.\\./\\.\\./(node|ui|page-api|content|blocks|cache)/', message: 'calls/ runs on the node\'s libp2p as a capability: it may use storage/, net/ and rewards/, nothing above' }
  ]),
  // page-API code runs in five JS contexts; page-side code never imports node code
  boundary(['page-api/page/**'], [{ regex: '^\\.\\./\\.\\./', message: 'code in the web page\'s main world imports nothing of the extension outside page-api/' }, otherContexts('page')]),
  boundary(['page-api/content-script/**'], [{ regex: '^\\.\\./\\.\\./', message: 'the content script imports nothing of the extension outside page-api/' }, otherContexts('content-script')]),
  boundary(['page-api/worker/**'], [{ regex: '^\\.\\./\\.\\./(?!node/node-document\\.ts$)', message: 'the service worker keeps the node\'s document alive (node/node-document.ts) and imports nothing else of the node' }, otherContexts('worker')]),
  boundary(['page-api/node/**'], [{ regex: '^\\.\\./\\.\\./(ui|page-api)/', message: 'the node-side page API does not import UI code' }, otherContexts('node')]),
  boundary(['page-api/ui/**'], [{ regex: '^\\.\\./\\.\\./(?!ui/)', message: 'page-API screens reach the node through ui/node-client.ts' }, otherContexts('ui')])
]

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/.output/**', '**/.wxt/**', '**/dist/**', '**/test-results/**', '**/playwright-report/**', 'contracts/artifacts/**', '.devnet/**', '**/.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
      eqeqeq: ['error', 'always']
    }
  },
  ...boundaries,
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', Buffer: 'readonly' } }
  }
)
