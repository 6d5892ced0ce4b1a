/** Builds the extension when `.output/chrome-mv3` is missing or older than its sources. */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'

const ROOT = resolve(import.meta.dirname, '..', '..')
const MANIFEST = join(ROOT, '.output', 'chrome-mv3', 'manifest.json')
const SOURCES = [join(ROOT, 'extension', 'entrypoints'), join(ROOT, 'extension', 'public'), join(ROOT, 'extension', 'src'), join(ROOT, 'shared', 'src'), join(ROOT, 'wxt.config.ts'), join(ROOT, 'extension', 'package.json')]

function newest (path: string): number {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  return readdirSync(path).reduce((max, name) => Math.max(max, newest(join(path, name))), stat.mtimeMs)
}

export default function globalSetup (): void {
  const built = existsSync(MANIFEST) ? statSync(MANIFEST).mtimeMs : 0
  const source = Math.max(...SOURCES.filter(existsSync).map(newest))
  if (built >= source) return
  console.log('building the extension (wxt build)…')
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'wxt', 'bin', 'wxt.mjs'), 'build'], { cwd: ROOT, stdio: 'inherit' })
}
