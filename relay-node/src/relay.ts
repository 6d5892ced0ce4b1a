/**
 * The relay node: a libp2p host with TCP and WebSockets, Noise, Yamux, identify, ping,
 * autonat, a circuit relay v2 server with configured limits, a Kademlia DHT server, gossipsub
 * carrying call rooms between its browsers and the other relays (calls/pubsub.ts), and, as an origin, a Helia node around it that serves the on-disk blockstore over bitswap
 * and announces published content in the DHT.
 *
 * @example
 * ```ts
 * const relay = createRelayNode({ config: parseConfig(relayConfigSchema, { data: './data' }) })
 * await relay.start()
 * console.log(relay.multiaddrs())
 * await relay.stop()
 * ```
 */
import { mkdir, readdir, stat } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { autoNAT } from '@libp2p/autonat'
import type { GossipSub } from '@libp2p/gossipsub'
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import type { Identify } from '@libp2p/identify'
import { KEEP_ALIVE } from '@libp2p/interface'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import type { KadDHT } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import type { Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore, MountDatastore } from 'datastore-core'
import { LevelDatastore } from 'datastore-level'
import { Key } from 'interface-datastore'
import { createLibp2p } from 'libp2p'
import type { Libp2pOptions } from 'libp2p'
import type { CID } from 'multiformats/cid'
import { ConfigError } from '@peerloom/shared'
import { RoomCarrier } from './calls/pubsub.ts'
import type { RelayNodeConfig } from './config.ts'
import {
  BOOTSTRAP_DIAL_TIMEOUT_MS, CONNECTION_PING_INTERVAL_MS, CONNECTION_PING_TIMEOUT_MIN_MS, BOOTSTRAP_RETRY_MAX_MS, BOOTSTRAP_RETRY_MS, DATA_FILES, DEFAULT_MAX_ROOMS, PROVIDE_TIMEOUT_MS,
  RELAY_PEERING_INTERVAL_MS, RELAY_PEERING_MAX_BACKOFF_MS
} from './constants.ts'
import { loadOrCreateIdentity } from './identity.ts'
import { HOP_PROTOCOL, RelayGate, openCircuits } from './limits.ts'
import { RelayMetrics } from './metrics.ts'
import { parseCid } from './origin/blocks.ts'
import type { OriginStore } from './origin/store.ts'
import type { ServedLedger } from './origin/served.ts'

/** Where libp2p's peer store keeps its records in the datastore. */
const PEER_STORE_PREFIX = '/peers'

/** Extra hop/stop streams a connection may hold beyond its circuits: reservations and refreshes. */
const STREAM_HEADROOM = 4

export interface RelayServices extends Record<string, unknown> {
  identify: Identify
  ping: Ping
  autonat: unknown
  relay: CircuitRelayService
  dht: KadDHT
  pubsub: GossipSub
}

/** The tag kad-dht puts on the peers of its routing table: DHT servers, i.e. relays. */
const KAD_PEER_TAG = 'kad-peer'

export interface RelayNodeInit {
  config: RelayNodeConfig
  /** Where counters go; a fresh registry when omitted. */
  metrics?: RelayMetrics
  /** Operator-facing log lines (stderr in the CLI). */
  log?: (line: string) => void
}

/** What GET /health reports. */
export interface RelayHealth {
  status: 'ok' | 'starting' | 'stopping'
  peerId: string
  multiaddrs: string[]
  reservations: number
  connections: number
  circuits: number
  uptimeSeconds: number
  origin: boolean
  published?: number
  /** Call room topics carried now. */
  rooms: number
  /** Gossipsub messages accepted and passed on since start. */
  messagesRelayed: number
  /** Gossipsub messages and subscriptions dropped since start (foreign topic, too large, malformed, flooding). */
  messagesRejected: number
}

export class RelayNode {
  readonly config: RelayNodeConfig
  readonly metrics: RelayMetrics
  /** Which call rooms this relay carries, and what it lets through on them. */
  readonly carrier: RoomCarrier
  /** The origin's content store; set by start() when the config says --origin. */
  origin?: OriginStore
  /** What the origin served per content id; set with `origin`. */
  served?: ServedLedger
  private readonly log: (line: string) => void
  private node?: Libp2p<RelayServices>
  /** Stops the origin's Helia node, which owns `node`, when there is one. */
  private stopOrigin?: () => Promise<void>
  private datastore?: LevelDatastore
  private startedAt = 0
  private status: RelayHealth['status'] = 'starting'
  private readonly shutdown = new AbortController()
  private published = 0
  private messagesRelayed = 0
  private messagesRejected = 0
  /** Relays that did not answer a peering dial: when to try again, and the current wait. */
  private readonly peeringBackoff = new Map<string, { at: number, wait: number }>()

  constructor (init: RelayNodeInit) {
    this.config = init.config
    this.metrics = init.metrics ?? new RelayMetrics()
    this.log = init.log ?? (() => {})
    this.carrier = new RoomCarrier({
      maxRooms: this.config.maxRooms ?? DEFAULT_MAX_ROOMS,
      onRelayed: () => {
        this.messagesRelayed++
        this.metrics.pubsubRelayed.inc()
      },
      onRejected: reason => {
        this.messagesRejected++
        this.metrics.pubsubRejected.inc({ reason })
      },
      log: this.log
    })
  }

  get libp2p (): Libp2p<RelayServices> {
    if (this.node === undefined) throw new Error('the relay is not started')
    return this.node
  }

  get peerId (): PeerId {
    return this.libp2p.peerId
  }

  /** Listening addresses, each ending in /p2p/<peer id>. */
  multiaddrs (): Multiaddr[] {
    return this.libp2p.getMultiaddrs()
  }

  async start (): Promise<void> {
    const { config } = this
    await prepareDataDir(config.data, this.log)
    const privateKey = await loadOrCreateIdentity(config.data)
    this.datastore = new LevelDatastore(join(config.data, DATA_FILES.datastore))
    try {
      await this.datastore.open()
    } catch (err) {
      throw new Error(`cannot open ${join(config.data, DATA_FILES.datastore)}: is another peerloom-relay using --data ${config.data}?`, { cause: err })
    }
    if (config.origin) {
      // origin modules (Helia, UnixFS, manifests) load only for origins: a plain relay stays small
      const { OriginStore } = await import('./origin/store.ts')
      const { ServedLedger } = await import('./origin/served.ts')
      this.origin = new OriginStore(config.data)
      await this.origin.open()
      this.served = new ServedLedger(config.data, this.origin, err => { this.log(`served-bytes ledger: ${err.message}`) })
      await this.served.open((file, err) => { this.log(`skipping published record ${file}: ${err.message}`) })
      await this.served.flush() // so the time counting began is kept from the first start on
    }

    const gate = new RelayGate({
      limits: config.limits,
      onDenied: (reason, detail) => {
        this.metrics.denied.inc({ reason })
        this.log(`refused (${reason}): ${detail}`)
      }
    })
    const options = this.libp2pOptions(privateKey, gate)
    // the peer store stays in memory: libp2p writes the peer's record on every new stream while it
    // holds that peer's lock, so one slow disk write stalls every stream with the peer, pings
    // included; peers are learnt again from their connections, and the DHT's records stay on disk
    // (datastore-core, datastore-level, libp2p and this package resolve different copies of
    // interface-datastore, hence the casts here and below; the shapes agree)
    const datastore = new MountDatastore([
      { prefix: new Key(PEER_STORE_PREFIX) as never, datastore: new MemoryDatastore() },
      { prefix: new Key('/') as never, datastore: this.datastore as never }
    ])
    if (this.origin === undefined) {
      this.node = await createLibp2p({ ...options, datastore: datastore as unknown as Libp2pOptions['datastore'] })
    } else {
      const { startOriginNode } = await import('./origin/node.ts')
      const served = this.served
      const blockstore = countingReads(this.origin.blockstore, (cid, bytes) => { served?.note(cid, bytes, 'bitswap') })
      const origin = await startOriginNode(options, { blockstore: blockstore as never, datastore: datastore as never })
      this.node = origin.libp2p
      this.stopOrigin = async () => { await origin.helia.stop() }
    }
    this.startedAt = Date.now()

    const node = this.node
    gate.bind({
      connections: peer => node.getConnections(peer),
      reservations: () => node.services.relay.reservations
    })
    this.metrics.bind({
      connections: () => node.getConnections().length,
      reservations: () => node.services.relay.reservations.size,
      circuits: () => openCircuits(node.getConnections()),
      rooms: () => this.carrier.rooms
    })
    this.carrier.start(node)
    // a reservation without a connection cannot be used (CONNECT needs one), so a peer that
    // leaves frees its slot now rather than when the reservation would expire
    node.addEventListener('peer:disconnect', event => {
      node.services.relay.reservations.delete(event.detail)
    })
    for (const addr of config.bootstrap) void this.keepBootstrapping(multiaddr(addr))
    if (this.origin !== undefined) void this.announcePublished()
    void this.keepPeering()
    this.status = 'ok'
  }

  private libp2pOptions (privateKey: PrivateKey, gate: RelayGate): Libp2pOptions<RelayServices> {
    const { limits } = this.config
    const streamsPerConnection = limits.maxCircuitsPerPeer + STREAM_HEADROOM
    return {
      privateKey,
      addresses: { listen: this.config.listen, announce: this.config.announce },
      transports: [tcp(), webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: gate.gater(),
      connectionManager: {
        maxConnections: limits.maxConnections,
        maxIncomingPendingConnections: limits.maxPendingConnections,
        inboundConnectionThreshold: limits.connectionRatePerIp
      },
      connectionMonitor: { pingInterval: CONNECTION_PING_INTERVAL_MS, pingTimeout: { minTimeout: CONNECTION_PING_TIMEOUT_MIN_MS } },
      peerDiscovery: [],
      metrics: this.metrics.libp2pMetrics(),
      services: {
        identify: identify(),
        ping: ping(),
        autonat: autoNAT(),
        relay: circuitRelayServer({
          maxInboundHopStreams: streamsPerConnection,
          maxOutboundStopStreams: streamsPerConnection,
          reservations: {
            maxReservations: limits.maxReservations,
            reservationTtl: limits.reservationTtlMs,
            applyDefaultLimit: true,
            defaultDurationLimit: limits.circuitDurationMs,
            defaultDataLimit: BigInt(limits.circuitDataBytes)
          }
        }),
        // DHT server among relays; browsers join in client mode over their relay connection.
        // Addresses pass through unfiltered: browsers announce circuit and WebRTC addresses.
        dht: kadDHT({ clientMode: false, peerInfoMapper: passthroughMapper, allowQueryWithZeroPeers: true }),
        // call rooms and forwarder announcements for browsers, meshed with the other relays
        pubsub: this.carrier.service()
      }
    }
  }

  /** Dials a bootstrap peer until it answers, backing off, and keeps it connected. */
  private async keepBootstrapping (addr: Multiaddr): Promise<void> {
    let delay = BOOTSTRAP_RETRY_MS
    const signal = this.shutdown.signal
    while (!signal.aborted) {
      try {
        const connection = await this.libp2p.dial(addr, { signal: AbortSignal.any([signal, AbortSignal.timeout(BOOTSTRAP_DIAL_TIMEOUT_MS)]) })
        await this.libp2p.peerStore.merge(connection.remotePeer, { tags: { [KEEP_ALIVE]: { value: 1 } } })
        this.log(`bootstrapped with ${addr.toString()}`)
        return
      } catch (err) {
        if (signal.aborted) return
        this.log(`bootstrap peer ${addr.toString()} unreachable (${(err as Error).message}); retrying in ${delay / 1000} s`)
        await new Promise(resolve => setTimeout(resolve, delay).unref())
        delay = Math.min(delay * 2, BOOTSTRAP_RETRY_MAX_MS)
      }
    }
  }

  /**
   * Keeps a connection to every relay this one knows of (its bootstrap peers, the DHT's routing
   * table, peers that identified as relays), so a room's topic meshes directly between the
   * relays carrying it and survives any one of them going away.
   */
  private async keepPeering (): Promise<void> {
    const signal = this.shutdown.signal
    // the first round soon after start, once the bootstrap peers had a moment to answer
    let delay = RELAY_PEERING_INTERVAL_MS / 5
    while (!signal.aborted) {
      await new Promise(resolve => setTimeout(resolve, delay).unref())
      delay = RELAY_PEERING_INTERVAL_MS
      if (signal.aborted) return
      try {
        await this.peerWithRelays(signal)
      } catch (err) {
        if (!signal.aborted) this.log(`relay peering: ${(err as Error).message}`)
      }
    }
  }

  private async peerWithRelays (signal: AbortSignal): Promise<void> {
    const node = this.libp2p
    const self = node.peerId.toString()
    const now = Date.now()
    // the closest DHT servers to ourselves are relays; in a tier of a few dozen that is all of them
    const found = new Map<string, PeerId>()
    try {
      for await (const event of node.services.dht.getClosestPeers(node.peerId.toMultihash().bytes, { signal: AbortSignal.any([signal, AbortSignal.timeout(BOOTSTRAP_DIAL_TIMEOUT_MS)]) })) {
        if (event.name === 'FINAL_PEER') found.set(event.peer.id.toString(), event.peer.id)
      }
    } catch {
      // a lookup that times out still leaves what it learned in the peer store
      if (signal.aborted) return
    }
    const known = await node.peerStore.all({
      filters: [peer => peer.tags.has(KAD_PEER_TAG) || peer.protocols.includes(HOP_PROTOCOL)],
      signal
    })
    for (const peer of known) if (peer.addresses.length > 0) found.set(peer.id.toString(), peer.id)
    await Promise.all([...found].map(async ([id, peer]) => {
      if (id === self || node.getConnections(peer).length > 0) return
      const backoff = this.peeringBackoff.get(id)
      if (backoff !== undefined && backoff.at > now) return
      try {
        await node.dial(peer, { signal: AbortSignal.any([signal, AbortSignal.timeout(BOOTSTRAP_DIAL_TIMEOUT_MS)]) })
        this.peeringBackoff.delete(id)
      } catch {
        const wait = Math.min((backoff?.wait ?? RELAY_PEERING_INTERVAL_MS / 2) * 2, RELAY_PEERING_MAX_BACKOFF_MS)
        this.peeringBackoff.set(id, { at: Date.now() + wait, wait })
      }
    }))
  }

  /** Announces every published manifest and ciphertext root in the DHT. */
  private async announcePublished (): Promise<void> {
    if (this.origin === undefined) return
    const records = await this.origin.list((file, err) => { this.log(`skipping published record ${file}: ${err.message}`) })
    this.published = records.length
    for (const record of records) {
      if (this.shutdown.signal.aborted) return
      try {
        await this.provide([record.manifest, record.root].map(text => parseCid(text)))
      } catch (err) {
        this.log(`could not announce ${record.manifest}: ${(err as Error).message}`)
      }
    }
  }

  /** Provides `cids` in the DHT (stored locally and sent to the closest relays). */
  async provide (cids: CID[], options?: { signal?: AbortSignal }): Promise<void> {
    const signal = AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(PROVIDE_TIMEOUT_MS), ...(options?.signal === undefined ? [] : [options.signal])])
    for (const cid of cids) await this.libp2p.contentRouting.provide(cid, { signal })
  }

  /** `<our address>/p2p-circuit/p2p/<peer>` for a peer holding a reservation here; empty otherwise. */
  relayedAddresses (peer: PeerId): Multiaddr[] {
    const node = this.libp2p
    if (!node.services.relay.reservations.has(peer)) return []
    return node.getMultiaddrs()
      .filter(addr => !addr.toString().includes('/p2p-circuit'))
      .map(addr => addr.encapsulate(`/p2p-circuit/p2p/${peer.toString()}`))
  }

  /** Called after an upload is committed, so /health counts it. */
  notePublished (): void {
    this.published++
  }

  health (): RelayHealth {
    const node = this.node
    return {
      status: this.status,
      peerId: node?.peerId.toString() ?? '',
      multiaddrs: node?.getMultiaddrs().map(addr => addr.toString()) ?? [],
      reservations: node?.services.relay.reservations.size ?? 0,
      connections: node?.getConnections().length ?? 0,
      circuits: node === undefined ? 0 : openCircuits(node.getConnections()),
      uptimeSeconds: this.startedAt === 0 ? 0 : Math.round((Date.now() - this.startedAt) / 1000),
      origin: this.origin !== undefined,
      ...(this.origin === undefined ? {} : { published: this.published }),
      rooms: this.carrier.rooms,
      messagesRelayed: this.messagesRelayed,
      messagesRejected: this.messagesRejected
    }
  }

  async stop (): Promise<void> {
    this.status = 'stopping'
    this.shutdown.abort()
    this.carrier.stop()
    if (this.stopOrigin !== undefined) await this.stopOrigin()
    else await this.node?.stop()
    await this.served?.close()
    await this.origin?.close()
    await this.datastore?.close()
  }
}

/**
 * The blockstore Helia (and so bitswap) reads, counting every block read through it: the origin
 * reads blocks through Helia only to send them to a bitswap peer; its gateway uses the store
 * directly and counts on its own.
 */
function countingReads<B extends { get: (cid: CID, options?: { signal?: AbortSignal }) => AsyncGenerator<Uint8Array> }> (blockstore: B, onRead: (cid: CID, bytes: number) => void): B {
  return new Proxy(blockstore, {
    get (target, property) {
      if (property === 'get') {
        return async function * (cid: CID, options?: { signal?: AbortSignal }): AsyncGenerator<Uint8Array> {
          let bytes = 0
          for await (const chunk of target.get(cid, options)) {
            bytes += chunk.length
            yield chunk
          }
          onRead(cid, bytes)
        }
      }
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    }
  })
}

/**
 * Checks --data before anything is written: a missing directory is created only when its
 * parent exists (so a mistyped path fails instead of growing a tree), and an existing one must
 * be empty or hold relay data (so --data pointed at an unrelated folder is refused).
 */
async function prepareDataDir (dir: string, log: (line: string) => void): Promise<void> {
  let info
  try {
    info = await stat(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`--data ${dir}: cannot read it: ${(err as Error).message}`, { cause: err })
  }
  if (info === undefined) {
    const parent = dirname(resolve(dir))
    if (!await stat(parent).then(parentInfo => parentInfo.isDirectory(), () => false)) {
      throw new ConfigError(`--data ${dir}: neither it nor its parent ${parent} exists; check the path (the relay creates only the last directory itself)`)
    }
    await mkdir(dir)
    log(`created the data directory ${dir}: a new peer identity is generated there`)
    return
  }
  if (!info.isDirectory()) throw new ConfigError(`--data ${dir} is a file; pass a directory`)
  const entries = await readdir(dir)
  const known: string[] = [...Object.values(DATA_FILES), 'keys']
  if (entries.length > 0 && !entries.some(name => known.includes(name))) {
    throw new ConfigError(`--data ${dir} holds other files (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}) and no relay data; pass the relay's own data directory, or an empty or new one`)
  }
}

/** Creates a relay node; call start() to bring it up. */
export function createRelayNode (init: RelayNodeInit): RelayNode {
  return new RelayNode(init)
}
