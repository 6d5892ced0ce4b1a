/**
 * A bench worker: runs many libp2p clients shaped like browsers (WebSockets + circuit relay
 * transport) in one process, driven over IPC by reservations.bench.ts. It either holds
 * reservations on the relay, timing each, or dials those clients through the relay, counting
 * relayed connection setups.
 */
import '../src/platform.ts'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

export type WorkerRequest =
  | { type: 'reserve', relay: string, relayPeer: string, count: number, concurrency: number }
  | { type: 'dial', targets: string[], seconds: number, dialers: number, concurrency: number }
  | { type: 'stop' }

export type WorkerReply =
  | { type: 'reserved', times: number[], addrs: string[], failures: string[], retries: number }
  | { type: 'dialed', setups: number, failures: number, firstFailure?: string, times: number[], seconds: number }
  | { type: 'stopped' }

/** How long one client may take to get its reservation before it counts as failed. @default 60_000 */
const RESERVE_TIMEOUT_MS = 60_000
/**
 * Attempts per client. libp2p's circuit listener gives a reservation 5 s (not configurable);
 * when the clients' own processes are CPU-starved a few miss it, and retry as a browser would.
 * @default 5
 */
const RESERVE_ATTEMPTS = 5

const nodes: Libp2p[] = []

async function client (listen: string[]): Promise<Libp2p> {
  const node = await createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    start: false,
    addresses: { listen },
    transports: [webSockets(), circuitRelayTransport({ reservationCompletionTimeout: RESERVE_TIMEOUT_MS })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // dialers open many relayed connections, one per setup, to the same handful of relays
    connectionManager: { maxConnections: 100_000, maxParallelDials: 1000 },
    // clients still ping the relay every 10 s like a browser, but 500 nodes sharing one
    // starved process answer late: a late pong must not drop the connection (and with it
    // the reservation), which a browser on its own machine would not suffer
    connectionMonitor: { abortConnectionOnPingFailure: false },
    services: { identify: identify() }
  })
  nodes.push(node)
  return node
}

/** Starts one client and resolves with the time from start() until it lists its circuit address. */
async function reserveOne (relay: string, relayPeer: string): Promise<{ ms: number, addr: string }> {
  const node = await client([`${relay}/p2p-circuit`])
  const started = performance.now()
  let timer: NodeJS.Timeout | undefined
  let check = (): void => {}
  const found = new Promise<string>((resolve, reject) => {
    timer = setTimeout(() => { reject(new Error('no reservation within the timeout')) }, RESERVE_TIMEOUT_MS)
    check = () => {
      const addr = node.getMultiaddrs().find(candidate => candidate.toString().includes(`/p2p/${relayPeer}/p2p-circuit`))
      if (addr !== undefined) resolve(addr.toString())
    }
    node.addEventListener('self:peer:update', check)
  })
  let addr: string
  try {
    await node.start()
    check()
    addr = await found
  } catch (err) {
    await Promise.resolve(node.stop()).catch(() => {})
    nodes.splice(nodes.indexOf(node), 1)
    throw err
  } finally {
    clearTimeout(timer)
    node.removeEventListener('self:peer:update', check)
  }
  return { ms: performance.now() - started, addr }
}

async function pool<T> (count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<Array<PromiseSettledResult<T>>> {
  const results: Array<PromiseSettledResult<T>> = new Array(count)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const index = next++
      try {
        results[index] = { status: 'fulfilled', value: await task(index) }
      } catch (reason) {
        results[index] = { status: 'rejected', reason }
      }
    }
  }))
  return results
}

async function reserve (request: Extract<WorkerRequest, { type: 'reserve' }>): Promise<WorkerReply> {
  let retries = 0
  const results = await pool(request.count, request.concurrency, async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await reserveOne(request.relay, request.relayPeer)
      } catch (err) {
        if (attempt >= RESERVE_ATTEMPTS) throw err
        retries++
      }
    }
  })
  const times: number[] = []
  const addrs: string[] = []
  const failures: string[] = []
  for (const result of results) {
    if (result.status === 'fulfilled') {
      times.push(result.value.ms)
      addrs.push(result.value.addr)
    } else {
      failures.push((result.reason as Error).message)
    }
  }
  return { type: 'reserved', times, addrs, failures, retries }
}

/** Opens and closes relayed connections to random targets for `seconds`; counts completed setups. */
async function dial (request: Extract<WorkerRequest, { type: 'dial' }>): Promise<WorkerReply> {
  const dialers = await Promise.all(Array.from({ length: request.dialers }, async () => {
    const node = await client([])
    await node.start()
    return node
  }))
  const targets = request.targets.map(text => multiaddr(text))
  const deadline = performance.now() + request.seconds * 1000
  let setups = 0
  let failures = 0
  let firstFailure: string | undefined
  const times: number[] = []
  const started = performance.now()
  await Promise.all(dialers.flatMap(dialer => Array.from({ length: request.concurrency }, async () => {
    while (performance.now() < deadline) {
      const target = targets[Math.floor(Math.random() * targets.length)]
      if (target === undefined) return
      const t0 = performance.now()
      try {
        const connection = await dialer.dial(target, { signal: AbortSignal.timeout(10_000) })
        times.push(performance.now() - t0)
        setups++
        await connection.close()
      } catch (err) {
        failures++
        firstFailure ??= (err as Error).message.split('\n')[0]
      }
    }
  })))
  return { type: 'dialed', setups, failures, ...(firstFailure === undefined ? {} : { firstFailure }), times, seconds: (performance.now() - started) / 1000 }
}

process.on('message', (message: WorkerRequest) => {
  void (async () => {
    let reply: WorkerReply
    if (message.type === 'reserve') reply = await reserve(message)
    else if (message.type === 'dial') reply = await dial(message)
    else {
      await Promise.allSettled(nodes.map(async node => { await node.stop() }))
      reply = { type: 'stopped' }
    }
    process.send?.(reply, () => { if (reply.type === 'stopped') process.exit(0) })
  })()
})
