#!/usr/bin/env node
// Compiles the two CLIs to JavaScript in dist/ with esbuild: one bundle per bin, split into chunks
// so the libp2p stack loads only when a command needs it. npm packages stay external (node-datachannel
// and the rest load from node_modules as usual); @peerloom/* is TypeScript source, so it is bundled in.
// dist/inputs.json lists every source file that went in with its SHA-256, so bin/launch.js can tell
// a stale build from a file that was merely rewritten with the same bytes.
// The new dist/ is written beside the old one and swapped in, so a bin starting meanwhile never
// sees half a build.
import { createHash } from 'node:crypto'
import { readFile, rename, rm, stat, utimes, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))
const dist = join(root, 'dist')
const next = join(root, `dist.next-${process.pid}`)
const started = new Date()

/** Bare imports stay imports, except Peerloom's own workspaces, which ship as TypeScript. */
const externalPackages = {
  name: 'external-packages',
  setup (b) {
    b.onResolve({ filter: /^[^./]/ }, args => args.path.startsWith('@peerloom/') ? undefined : { path: args.path, external: true })
  }
}

try {
  const { metafile } = await build({
    absWorkingDir: root,
    entryPoints: { peerloom: 'src/main/peerloom.ts', 'peerloom-relay': 'src/main/relay.ts' },
    outdir: next,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20.19',
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
    plugins: [externalPackages]
  })
  const inputs = {}
  for (const path of Object.keys(metafile.inputs).sort()) {
    const file = join(root, path)
    // a file saved while esbuild ran may differ from what it bundled: record no hash, so it reads as stale
    const changed = (await stat(file)).mtimeMs > started.getTime()
    inputs[path] = changed ? null : createHash('sha256').update(await readFile(file)).digest('hex')
  }
  await writeFile(join(next, 'inputs.json'), JSON.stringify(inputs, null, 1) + '\n')
  // the build's files carry its start time: a source newer than that is checked by its hash
  for (const entry of await readdir(next, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) await utimes(join(entry.parentPath, entry.name), started, started)
  }
  const old = `${dist}.old-${process.pid}`
  // another build (a second test run) may swap its dist/ in between: move that aside too and retry
  for (let attempt = 1; ; attempt++) {
    await rename(dist, old).catch(err => { if (err.code !== 'ENOENT') throw err })
    try {
      await rename(next, dist)
      break
    } catch (err) {
      if (!['ENOTEMPTY', 'EEXIST'].includes(err.code) || attempt === 5) throw err
      await rm(old, { recursive: true, force: true })
    }
  }
  await rm(old, { recursive: true, force: true })
} catch (err) {
  await rm(next, { recursive: true, force: true })
  console.error(`relay-node build: ${err.message}`)
  process.exit(1)
}
