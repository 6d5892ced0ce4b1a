#!/usr/bin/env node
// The extension's capability folders as floors: each folder sits one floor above the highest
// folder it imports, so imports only ever go down. Prints the floors and which folder imports
// which; exits 1 when two folders import each other, directly or round a loop (a read that
// walks node → content → node would be one). eslint.config.js says which imports each folder
// may make; this shows the shape those rules leave. `npm run floors`.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const SRC = fileURLToPath(new URL('../extension/src', import.meta.url))
// `import … from '…'`, `export … from '…'`, `import('…')`, `import '…'`; type-only imports count too
const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm

function files (dir) {
  return readdirSync(dir).flatMap(name => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return files(path)
    return /\.(ts|tsx)$/.test(name) && !name.endsWith('.d.ts') ? [path] : []
  })
}

/**
 * The capability folder a file is in, or null for src/*.ts. page-api's JS contexts count as
 * folders of their own, except page-api/ui: the page API's screens are part of the extension's
 * pages, so they share ui/'s floor (eslint lets them import nothing but ui/).
 */
function folderOf (path) {
  const parts = relative(SRC, path).split(sep)
  if (parts.length === 1) return null
  if (parts[0] !== 'page-api' || parts.length === 2) return parts[0]
  return parts[1] === 'ui' ? 'ui' : `page-api/${parts[1]}`
}

const edges = new Map()
for (const file of files(SRC)) {
  const from = folderOf(file)
  if (from === null) continue
  if (!edges.has(from)) edges.set(from, new Set())
  for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3]
    if (!spec.startsWith('.')) continue
    const target = resolve(dirname(file), spec)
    if (!target.startsWith(SRC + sep)) continue
    const to = folderOf(target)
    if (to !== null && to !== from) edges.get(from).add(to)
  }
}

// Tarjan's strongly connected components: any component of more than one folder is a loop
function loops () {
  let index = 0
  const stack = []
  const state = new Map()
  const found = []
  const visit = (v) => {
    state.set(v, { index, low: index, onStack: true })
    index++
    stack.push(v)
    for (const w of edges.get(v) ?? []) {
      if (!state.has(w)) {
        visit(w)
        state.get(v).low = Math.min(state.get(v).low, state.get(w).low)
      } else if (state.get(w).onStack) {
        state.get(v).low = Math.min(state.get(v).low, state.get(w).index)
      }
    }
    if (state.get(v).low === state.get(v).index) {
      const component = []
      let w
      do {
        w = stack.pop()
        state.get(w).onStack = false
        component.push(w)
      } while (w !== v)
      if (component.length > 1) found.push(component.sort())
    }
  }
  for (const v of edges.keys()) if (!state.has(v)) visit(v)
  return found
}

const cycles = loops()
if (cycles.length > 0) {
  for (const cycle of cycles) {
    const pairs = cycle.flatMap(a => [...edges.get(a)].filter(b => cycle.includes(b)).map(b => `${a} → ${b}`))
    console.error(`floors: these folders import each other, so they have no floors: ${cycle.join(', ')} (${pairs.join('; ')})`)
  }
  process.exit(1)
}

const floor = new Map()
const floorOf = (v) => {
  if (!floor.has(v)) floor.set(v, Math.max(-1, ...[...(edges.get(v) ?? [])].map(floorOf)) + 1)
  return floor.get(v)
}
for (const v of edges.keys()) floorOf(v)
const top = Math.max(...floor.values())
console.log('extension/src, top floor first (a folder imports only folders on lower floors):')
for (let f = top; f >= 0; f--) {
  const here = [...floor].filter(([, n]) => n === f).map(([v]) => v).sort()
  console.log(`  floor ${f}: ${here.map(v => edges.get(v).size === 0 ? v : `${v} → ${[...edges.get(v)].sort().join(', ')}`).join('  |  ')}`)
}
