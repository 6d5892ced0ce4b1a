/**
 * The devnet as a test fixture: relay and origin processes (`peerloom-relay`) on loopback,
 * content published with `peerloom publish`, each in its own temporary directory.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'

const ROOT = resolve(import.meta.dirname, '..', '..')
const RELAY_BIN = join(ROOT, 'relay-node', 'bin', 'peerloom-relay.js')
const CLI_BIN = join(ROOT, 'relay-node', 'bin', 'peerloom.js')

/**
 * How long a relay may take to print its ready line: it starts in about 2 s on an idle machine,
 * many times that when every core is busy.
 * @default 120_000
 */
const RELAY_READY_TIMEOUT_MS = 120_000

export interface RelayInfo {
  peerId: string
  multiaddrs: string[]
  http: string
}

export interface RelayProcess extends RelayInfo {
  dataDir: string
  /** The first WebSocket multiaddr, /p2p/ included. */
  addr: string
  /** SIGTERM, waiting for exit. */
  stop: () => Promise<void>
  /** SIGKILL: the relay vanishes without a goodbye. */
  kill: () => Promise<void>
  readonly exited: boolean
}

export interface RelayOptions {
  dataDir: string
  origin?: boolean
  bootstrap?: string[]
  /** WebSocket port; 0 picks one. */
  port?: number
  /** @default 0 */
  httpPort?: number
  /** Further flags, e.g. the key service's `--rpc`, `--deployment`, `--publisher-key-file`. */
  args?: string[]
}

async function waitExit (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>(resolve => child.once('exit', () => { resolve() }))
}

/** Starts `peerloom-relay` and resolves once it printed its JSON ready line. */
export async function startRelay (options: RelayOptions): Promise<RelayProcess> {
  const args = [
    RELAY_BIN,
    '--listen', `/ip4/127.0.0.1/tcp/${options.port ?? 0}/ws`,
    '--http', `127.0.0.1:${options.httpPort ?? 0}`,
    '--data', options.dataDir,
    '--json',
    ...(options.origin === true ? ['--origin'] : []),
    ...(options.bootstrap ?? []).flatMap(ma => ['--bootstrap', ma]),
    ...options.args ?? []
  ]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000) })
  // PEERLOOM_E2E_RELAY_LOGS=<dir> keeps each relay's whole stderr (with DEBUG=libp2p:* for wire-level detail)
  if (process.env.PEERLOOM_E2E_RELAY_LOGS !== undefined) child.stderr?.pipe(createWriteStream(join(process.env.PEERLOOM_E2E_RELAY_LOGS, `relay-${child.pid ?? 0}.log`)))
  const info = await new Promise<RelayInfo>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`relay not ready after ${RELAY_READY_TIMEOUT_MS} ms: ${stderr}`)) }, RELAY_READY_TIMEOUT_MS)
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', line => {
      if (!line.startsWith('{')) return
      try {
        const parsed = JSON.parse(line) as RelayInfo
        if (typeof parsed.peerId === 'string') {
          clearTimeout(timer)
          resolve(parsed)
        }
      } catch {
        // a log line that merely starts with "{"
      }
    })
    child.once('exit', code => {
      clearTimeout(timer)
      reject(new Error(`relay exited with ${code}: ${stderr}`))
    })
  })
  const addr = info.multiaddrs.find(ma => ma.includes('/ws')) ?? info.multiaddrs[0]
  if (addr === undefined) throw new Error('relay printed no multiaddr')
  return {
    ...info,
    dataDir: options.dataDir,
    addr: addr.includes('/p2p/') ? addr : `${addr}/p2p/${info.peerId}`,
    get exited () { return child.exitCode !== null || child.signalCode !== null },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await waitExit(child)
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await waitExit(child)
    }
  }
}

export interface PublishedFile {
  link: string
  manifest: string
  root: string
  contentId: string
  size: number
  sha256: string
  path: string
}

/** Writes `size` random bytes to a file and publishes it into the running origin at `dataDir`. */
export async function publishRandomFile (dir: string, originDataDir: string, size: number, name = 'sample.bin'): Promise<PublishedFile> {
  const bytes = randomBytes(size)
  const path = join(dir, name)
  await writeFile(path, bytes)
  const result = await run(process.execPath, [CLI_BIN, 'publish', path, '--data', originDataDir, '--quiet', '--mime', 'application/octet-stream'], {
    PEERLOOM_PUBLISHER_KEY: randomBytes(32).toString('hex')
  })
  const published = JSON.parse(result.trim().split('\n').at(-1) as string) as Omit<PublishedFile, 'size' | 'sha256' | 'path'>
  return { ...published, size, sha256: createHash('sha256').update(bytes).digest('hex'), path }
}

async function run (command: string, args: string[], env: Record<string, string>): Promise<string> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  if (code !== 0) throw new Error(`${args.slice(0, 3).join(' ')} exited with ${code}: ${stderr.slice(-2000)}`)
  return stdout
}

export interface Devnet {
  dir: string
  /** A relay without the origin role. */
  relay: RelayProcess
  /** A relay that is also the origin (gateway). */
  origin: RelayProcess
  /** Extension settings pointing at this devnet. */
  settings: () => { relays: string[], routers: string[], gateways: string[] }
  stop: () => Promise<void>
}

/** A relay and an origin bootstrapped to each other. */
export async function startDevnet (): Promise<Devnet> {
  const dir = await mkdtemp(join(tmpdir(), 'peerloom-devnet-'))
  const relay = await startRelay({ dataDir: join(dir, 'relay') })
  const origin = await startRelay({ dataDir: join(dir, 'origin'), origin: true, bootstrap: [relay.addr] })
  return {
    dir,
    relay,
    origin,
    settings: () => ({ relays: [relay.addr, origin.addr], routers: [relay.http, origin.http], gateways: [origin.http] }),
    stop: async () => {
      await Promise.all([relay.stop(), origin.stop()])
      await rm(dir, { recursive: true, force: true })
    }
  }
}
