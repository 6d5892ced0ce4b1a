/**
 * Compiles the Solidity sources with solc-js and caches the result in `artifacts/`.
 *
 * The cache key is a hash of every source, the compiler version and settings, and the
 * OpenZeppelin version, so a stale artifact is never used.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import solc from 'solc'
import type { JsonFragment } from 'ethers'
import { CONTRACT_NAMES, EVM_VERSION, OPTIMIZER_RUNS } from './constants.ts'
import type { ContractName } from './constants.ts'

const require = createRequire(import.meta.url)

/** The `contracts/` workspace directory. */
export const CONTRACTS_DIR = fileURLToPath(new URL('..', import.meta.url))
/** Where compiled artifacts are cached (generated, not committed). */
export const ARTIFACTS_FILE = join(CONTRACTS_DIR, 'artifacts', 'contracts.json')
const SOURCE_DIRS = ['src', 'bench']
const OZ_DIR = dirname(require.resolve('@openzeppelin/contracts/package.json'))

export interface Artifact {
  contractName: ContractName
  sourceName: string
  abi: JsonFragment[]
  bytecode: string
}

export interface ArtifactSet {
  sourceHash: string
  compilerVersion: string
  contracts: Record<ContractName, Artifact>
}

const SETTINGS = {
  evmVersion: EVM_VERSION,
  optimizer: { enabled: true, runs: OPTIMIZER_RUNS },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } }
}

/** Returns the cached artifacts if they match the sources, else compiles and caches them. */
export async function loadArtifacts (): Promise<ArtifactSet> {
  const sources = await readSources()
  const sourceHash = await hashInputs(sources)
  try {
    const cached = JSON.parse(await readFile(ARTIFACTS_FILE, 'utf8')) as ArtifactSet
    if (cached.sourceHash === sourceHash) return cached
  } catch {
    // no cache yet, or unreadable: compile
  }
  const artifacts = compileSources(sources, sourceHash)
  await writeAtomically(ARTIFACTS_FILE, JSON.stringify(artifacts))
  return artifacts
}

/** Compiles every contract from source, ignoring the cache. */
export async function compileContracts (): Promise<ArtifactSet> {
  const sources = await readSources()
  return compileSources(sources, await hashInputs(sources))
}

/** Writes `contents` to `file` through a temporary file, so concurrent readers never see half a file. */
export async function writeAtomically (file: string, contents: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true })
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  await writeFile(tmp, contents)
  await rename(tmp, file)
}

async function readSources (): Promise<Record<string, string>> {
  const sources: Record<string, string> = {}
  for (const dir of SOURCE_DIRS) {
    const entries = await readdir(join(CONTRACTS_DIR, dir), { recursive: true, withFileTypes: true })
    for (const entry of entries) {
      if (!entry.isFile() || !entry.name.endsWith('.sol')) continue
      const path = join(entry.parentPath, entry.name)
      sources[relative(CONTRACTS_DIR, path).split(sep).join('/')] = await readFile(path, 'utf8')
    }
  }
  return sources
}

async function hashInputs (sources: Record<string, string>): Promise<string> {
  const oz = JSON.parse(await readFile(join(OZ_DIR, 'package.json'), 'utf8')) as { version: string }
  const hash = createHash('sha256')
  hash.update(JSON.stringify({ solc: solc.version(), oz: oz.version, settings: SETTINGS }))
  for (const name of Object.keys(sources).sort()) hash.update(`\0${name}\0${sources[name]}`)
  return hash.digest('hex')
}

interface SolcOutput {
  errors?: Array<{ severity: 'error' | 'warning' | 'info', formattedMessage: string }>
  contracts: Record<string, Record<string, { abi: JsonFragment[], evm: { bytecode: { object: string } } }>>
}

function compileSources (sources: Record<string, string>, sourceHash: string): ArtifactSet {
  const input = {
    language: 'Solidity',
    sources: Object.fromEntries(Object.entries(sources).map(([name, content]) => [name, { content }])),
    settings: SETTINGS
  }
  const findImports = (path: string): { contents: string } | { error: string } => {
    const prefix = '@openzeppelin/contracts/'
    if (!path.startsWith(prefix)) return { error: `import not found: ${path}` }
    try {
      return { contents: readFileSync(join(OZ_DIR, path.slice(prefix.length)), 'utf8') }
    } catch (err) {
      return { error: `cannot read ${path}: ${(err as Error).message}` }
    }
  }
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports })) as SolcOutput
  const problems = (output.errors ?? []).filter(e => e.severity !== 'info')
  const errors = problems.filter(e => e.severity === 'error')
  if (errors.length > 0) {
    throw new Error(`solc failed:\n${errors.map(e => e.formattedMessage).join('\n')}`)
  }
  for (const warning of problems) process.emitWarning(warning.formattedMessage, 'SolcWarning')

  const contracts = {} as Record<ContractName, Artifact>
  for (const [sourceName, byName] of Object.entries(output.contracts)) {
    for (const [name, out] of Object.entries(byName)) {
      if (!(CONTRACT_NAMES as readonly string[]).includes(name)) continue
      contracts[name as ContractName] = {
        contractName: name as ContractName,
        sourceName,
        abi: out.abi,
        bytecode: `0x${out.evm.bytecode.object}`
      }
    }
  }
  for (const name of CONTRACT_NAMES) {
    if (contracts[name] === undefined) throw new Error(`solc produced no contract ${name}`)
  }
  return { sourceHash, compilerVersion: solc.version(), contracts }
}
