// Starts a CLI from its compiled bundle in dist/ (scripts/build.mjs), or from the TypeScript source
// through tsx when there is no build or it is stale, so an edit takes effect at once and an old
// build never runs. Stale: a file the build was made from (dist/inputs.json) is gone, or is newer
// than the build and has other bytes. Costs a stat per input, a few milliseconds.
import { createHash } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

/** Whether `<dir>/dist/<name>.js` was built from the sources as they are now. */
export function fresh (dir, name) {
  let builtAt
  let inputs
  try {
    builtAt = statSync(join(dir, 'dist', `${name}.js`)).mtimeMs
    inputs = JSON.parse(readFileSync(join(dir, 'dist', 'inputs.json'), 'utf8'))
  } catch {
    return false
  }
  for (const [path, hash] of Object.entries(inputs)) {
    const file = join(dir, path)
    try {
      if (statSync(file).mtimeMs <= builtAt) continue
      if (hash !== createHash('sha256').update(readFileSync(file)).digest('hex')) return false
    } catch {
      return false
    }
  }
  return true
}

/** `name`: the bundle in dist/; `source`: its entry point under src/. */
export async function launch (name, source) {
  if (fresh(root, name)) {
    await import(pathToFileURL(join(root, 'dist', `${name}.js`)).href)
    return
  }
  const { register } = await import('tsx/esm/api')
  register()
  await import(pathToFileURL(join(root, source)).href)
}
