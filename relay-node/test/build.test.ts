/** The compiled CLIs: their versions, and the rule that picks dist/ or the TypeScript source. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fresh } from '../bin/launch.js'
import { PEERLOOM_BIN, RELAY_BIN, removeDir, runCli, tempDir } from './helpers.ts'

const VERSION = (JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

describe('compiled CLIs', () => {
  it('print the package version for --version', async () => {
    for (const bin of [PEERLOOM_BIN, RELAY_BIN]) {
      const { code, stdout } = await runCli(bin, ['--version'])
      assert.equal(code, 0)
      assert.equal(stdout, `${VERSION}\n`)
    }
  })

  it('peerloom --help lists the commands and exits 0', async () => {
    const { code, stdout } = await runCli(PEERLOOM_BIN, ['--help'])
    assert.equal(code, 0)
    assert.match(stdout, /publish FILE[\s\S]*report CONTENT/)
  })
})

describe('dist/ or source', () => {
  const sha = (text: string): string => createHash('sha256').update(text).digest('hex')
  /** A package with one source file and a build of it, the build newer than the source. */
  async function built (): Promise<{ dir: string, source: string }> {
    const dir = await tempDir('peerloom-build-')
    const source = join(dir, 'src', 'a.ts')
    await mkdir(join(dir, 'src'))
    await mkdir(join(dir, 'dist'))
    await writeFile(source, 'export const a = 1\n')
    await writeFile(join(dir, 'dist', 'cli.js'), 'export {}\n')
    await writeFile(join(dir, 'dist', 'inputs.json'), JSON.stringify({ 'src/a.ts': sha('export const a = 1\n') }))
    const before = new Date(Date.now() - 60_000)
    await utimes(source, before, before)
    return { dir, source }
  }
  const later = new Date(Date.now() + 60_000)

  it('runs the build while its inputs hold the bytes it was made from', async () => {
    const { dir, source } = await built()
    try {
      assert.equal(fresh(dir, 'cli'), true)
      // rewritten with the same bytes (a checkout, a code generator): still fresh
      await writeFile(source, 'export const a = 1\n')
      await utimes(source, later, later)
      assert.equal(fresh(dir, 'cli'), true)
    } finally {
      await removeDir(dir)
    }
  })

  it('runs the source once an input changed, vanished, or the build is incomplete', async () => {
    const { dir, source } = await built()
    try {
      await writeFile(source, 'export const a = 2\n')
      await utimes(source, later, later)
      assert.equal(fresh(dir, 'cli'), false, 'changed bytes')
      await rm(source)
      assert.equal(fresh(dir, 'cli'), false, 'input gone')
      assert.equal(fresh(dir, 'other'), false, 'no bundle of that name')
      await rm(join(dir, 'dist', 'inputs.json'))
      assert.equal(fresh(dir, 'cli'), false, 'no inputs.json')
    } finally {
      await removeDir(dir)
    }
  })

  it('treats an input saved during the build (no hash recorded) as changed', async () => {
    const { dir, source } = await built()
    try {
      await writeFile(join(dir, 'dist', 'inputs.json'), JSON.stringify({ 'src/a.ts': null }))
      assert.equal(fresh(dir, 'cli'), true, 'not touched since the build started')
      await utimes(source, later, later)
      assert.equal(fresh(dir, 'cli'), false)
    } finally {
      await removeDir(dir)
    }
  })
})
