/** Real relay processes and real libp2p clients on 127.0.0.1, for the tests. */
import '../src/platform.ts'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import type { ConnectionGater, Libp2p, PeerId } from '@libp2p/interface'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import type { KadDHT } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import type { Ping } from '@libp2p/ping'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { HOP_PROTOCOL } from '../src/limits.ts'

/**
 * How long a test waits for something that should happen soon (a reservation, a ping, a DHT
 * answer): generous, so the suite passes with both cores busy; a broken path still fails.
 */
export const WAIT_MS = 30_000

export const RELAY_BIN = new URL('../bin/peerloom-relay.js', import.meta.url).pathname
export const PEERLOOM_BIN = new URL('../bin/peerloom.js', import.meta.url).pathname

export interface ReadyLine {
  peerId: string
  multiaddrs: string[]
  http: string
}

export interface RunningRelay extends ReadyLine {
  process: ChildProcess
  data: string
  stderr: () => string
  /** The first /ws address. */
  ws: Multiaddr
  /** SIGTERM; resolves with the exit code once the process and its output have ended. */
  stop: () => Promise<{ code: number | null }>
}

/** A fresh temporary directory, removed by the returned cleanup. */
export async function tempDir (prefix = 'peerloom-test-'): Promise<string> {
  return await mkdtemp(join(tmpdir(), prefix))
}

export async function removeDir (dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

/** Starts `peerloom-relay --json` on loopback with free ports; resolves on its ready line. */
export async function startRelay (extra: string[] = [], options: { data?: string, env?: NodeJS.ProcessEnv } = {}): Promise<RunningRelay> {
  const data = options.data ?? await tempDir('peerloom-relay-')
  const args = [RELAY_BIN, '--listen', '/ip4/127.0.0.1/tcp/0/ws', '--listen', '/ip4/127.0.0.1/tcp/0', '--http', '127.0.0.1:0', '--data', data, '--json', ...extra]
  const child = spawn(process.execPath, args, { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text })
  const ready = await new Promise<ReadyLine>((resolve, reject) => {
    let stdout = ''
    const timer = setTimeout(() => { reject(new Error(`relay not ready after 60 s; stderr:\n${stderr}`)) }, 60_000)
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text
      const newline = stdout.indexOf('\n')
      if (newline === -1) return
      clearTimeout(timer)
      try {
        resolve(JSON.parse(stdout.slice(0, newline)) as ReadyLine)
      } catch (err) {
        reject(err)
      }
    })
    child.once('exit', code => {
      clearTimeout(timer)
      reject(new Error(`relay exited with ${String(code)} before it was ready; stderr:\n${stderr}`))
    })
  })
  const ws = ready.multiaddrs.find(addr => addr.includes('/ws/'))
  if (ws === undefined) throw new Error(`no /ws address in ${JSON.stringify(ready)}`)
  return {
    ...ready,
    process: child,
    data,
    ws: multiaddr(ws),
    stderr: () => stderr,
    stop: async () => {
      // a relay a test killed has a signal code and no exit code; its 'close' has passed already
      if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode }
      // 'close' comes after the last stderr bytes, so a test can read everything the relay logged
      const exited = new Promise<number | null>(resolve => child.once('close', code => { resolve(code) }))
      child.kill('SIGTERM')
      const code = await exited
      return { code }
    }
  }
}

/** Runs a CLI to completion. */
export async function runCli (bin: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text })
  child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  return { code, stdout, stderr }
}

export interface ClientServices extends Record<string, unknown> {
  ping: Ping
  dht: KadDHT
}

/** A Node libp2p peer shaped like a browser: WebSockets out, circuit relay for reachability, DHT client. */
export async function createClient (options: { listen?: string[], gater?: ConnectionGater } = {}): Promise<Libp2p<ClientServices>> {
  // libp2p gives a circuit listen 5 s, fixed; on a loaded machine a client retries, as a browser would
  for (let attempt = 1; ; attempt++) {
    const node = await createLibp2p({
      start: false,
      addresses: { listen: options.listen ?? [] },
      transports: [webSockets(), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      ...(options.gater === undefined ? {} : { connectionGater: options.gater }),
      services: {
        identify: identify(),
        ping: ping(),
        dht: kadDHT({ clientMode: true, peerInfoMapper: passthroughMapper })
      }
    }) as unknown as Libp2p<ClientServices>
    try {
      await node.start()
      return node
    } catch (err) {
      await node.stop()
      if (attempt >= 3 || !/failed to be listened on/.test((err as Error).message)) throw err
    }
  }
}

/** Resolves once `client` lists a /p2p-circuit address through `relay`. */
export async function circuitAddress (client: Libp2p, relay: string, timeoutMs = WAIT_MS): Promise<Multiaddr> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const found = client.getMultiaddrs().find(addr => addr.toString().includes(`/p2p/${relay}/p2p-circuit`))
    if (found !== undefined) return found
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`no reservation on ${relay} within ${timeoutMs} ms; addresses: ${client.getMultiaddrs().map(String).join(', ')}`)
}

/** Polls `check` until it returns a value other than undefined. */
export async function eventually<T> (check: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (err) {
      last = err
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms${last === undefined ? '' : `: ${(last as Error).message}`}`)
}

/** Circuit relay v2 status codes (the spec's Status enum). */
export const RelayStatus = { OK: 100, RESERVATION_REFUSED: 200, RESOURCE_LIMIT_EXCEEDED: 201, PERMISSION_DENIED: 202 } as const

/**
 * Sends a raw hop RESERVE and returns the relay's status code. Hand-encoded (HopMessage
 * { type: RESERVE }) so the test sees the relay's answer itself, not a client library's retry.
 */
export async function reserve (client: Libp2p, relay: Multiaddr): Promise<number> {
  const stream = await client.dialProtocol(relay, HOP_PROTOCOL, { signal: AbortSignal.timeout(WAIT_MS) })
  stream.send(Uint8Array.from([2, 0x08, 0x00]))
  const bytes: number[] = []
  for await (const chunk of stream) {
    bytes.push(...chunk.subarray())
    const [length, offset] = varint(bytes, 0)
    if (length !== undefined && bytes.length >= offset + length) break
  }
  await stream.close().catch(() => {})
  const [length, start] = varint(bytes, 0)
  if (length === undefined) throw new Error('the relay answered nothing')
  let pos = start
  const end = start + length
  while (pos < end) {
    const [key, next] = varint(bytes, pos)
    if (key === undefined) break
    pos = next
    const field = key >> 3
    const wire = key & 7
    if (wire === 0) {
      const [value, after] = varint(bytes, pos)
      pos = after
      if (field === 5 && value !== undefined) return value
    } else if (wire === 2) {
      const [len, after] = varint(bytes, pos)
      pos = after + (len ?? 0)
    } else {
      throw new Error(`unexpected wire type ${wire}`)
    }
  }
  throw new Error('the relay answered without a status')
}

function varint (bytes: number[], start: number): [number | undefined, number] {
  let value = 0
  let shift = 0
  for (let i = start; i < bytes.length; i++) {
    const byte = bytes[i] as number
    value += (byte & 0x7f) * 2 ** shift
    shift += 7
    if ((byte & 0x80) === 0) return [value, i + 1]
  }
  return [undefined, start]
}

export function peerIdString (id: PeerId): string {
  return id.toString()
}
