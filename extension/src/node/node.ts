/**
 * The Peerloom node: a Helia/libp2p node that lives in the extension's offscreen document,
 * fetches content (peers first, the origin as fallback), caches ciphertext only and, when
 * the donor opted in, serves it within their caps.
 *
 * @example
 * ```ts
 * const node = createPeerloomNode({ db: await openStateDb() })
 * await node.start()
 * const opened = await node.openContent(link, { start: 0, end: 1024 })
 * for await (const bytes of opened.body) { ... } // plaintext
 * ```
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { delegatedHTTPRouter } from '@helia/delegated-routing-client'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { isPrivate } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, Libp2p, Logger } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { TypedEventEmitter } from 'main-event'
import type { Multiaddr } from '@multiformats/multiaddr'
import {
  ChunkCipher, DEFAULT_CHUNK_SIZE, NotFoundError, PeerloomError, createManifest, encodeManifest,
  fromHex, toHex, formatLink, importSealedFile, isPeerloomError, manifestCid, signManifest,
  ErrorCode, BLOCK_PROTOCOL, MAX_BLOCK_BYTES
} from '@peerloom/shared'
import type { ByteSource, NodeSettings, NodeSettingsInput } from '@peerloom/shared'
import { createHeliaLight } from 'helia'
import { withLibp2pLight } from '@helia/libp2p'
import type { HeliaWithLibp2p } from '@helia/libp2p'
import { CID } from 'multiformats/cid'
import type { Wallet } from 'ethers'
import { BlockCache } from '../cache/block-cache.ts'
import type { CacheStats } from '../cache/block-cache.ts'
import { ContentSession } from '../blocks/block-fetcher.ts'
import { ContentReader } from '../content/content-reader.ts'
import type { OpenOptions, OpenedContent } from '../content/content-reader.ts'
import type { ProviderInfo } from '../blocks/block-fetcher.ts'
import { BlockServer } from '../blocks/block-server.ts'
import { BlockStreamPool } from '../blocks/block-protocol.ts'
import { ADDRESS_DIAL_TIMEOUT_MS, DATA_CHANNEL_MESSAGE_BYTES, ANNOUNCE_INTERVAL_MS, HISTORY_BUCKET_MS, PERSIST_INTERVAL_MS, PER_PEER_INFLIGHT } from '../constants.ts'
import { deleteIdentity, identitySigner, loadOrCreateIdentity } from './identity.ts'
import type { Identity } from './identity.ts'
import { PeerReputation } from '../net/peer-reputation.ts'
import type { ReputationRecord } from '../net/peer-reputation.ts'
import { RelayKeeper } from '../net/relay-keeper.ts'
import type { RelayStatus } from '../net/relay-keeper.ts'
import { ReceivedMeter, ServeMeter } from '../blocks/serve-meter.ts'
import type { ReceivedBytes } from '../blocks/serve-meter.ts'
import type { ClientUsage } from '../storage/state-db.ts'
import { SettingsStore } from './settings-store.ts'
import { kvRecord } from '../storage/state-db.ts'
import type { ContentRecord, StateDb } from '../storage/state-db.ts'
import { CHART_BUCKETS, TransferHistory } from '../blocks/transfer-history.ts'
import type { HistorySeries } from '../blocks/transfer-history.ts'
import { UploadBudget } from '../blocks/upload-budget.ts'
import { Rewards } from '../rewards/index.ts'
import type { Earnings, ReceiptStatus } from '../rewards/index.ts'

/**
 * A capability that runs on the node's libp2p while the network is up (calls): attached after
 * each network start, detached before each stop (a relay change restarts the network).
 */
export interface NetworkCapability {
  attach: (libp2p: Libp2p) => Promise<void>
  detach: () => Promise<void>
}

export interface PeerloomNodeInit {
  db: StateDb
  /** Settings that apply until the user changes them (from the build). */
  defaults?: NodeSettingsInput
  capabilities?: NetworkCapability[]
}

export interface NodeError {
  at: number
  code: number
  message: string
}

/** Another Peerloom node this one is connected to (relays and DHT servers are not listed). */
export interface PeerSummary {
  peerId: string
  /** The remote address of its direct connection if it has one, else of a relayed one. */
  addr: string
  /** False when the only connections to it are relayed (limited). */
  direct: boolean
}

/** A provider peer this node distrusts after it lied, stalled or failed (PeerReputation). */
export interface DistrustedPeer {
  peerId: string
  /** banned: never dialled or asked; demoted: asked only when no other peer and no origin can deliver. */
  standing: 'banned' | 'demoted'
  /** ms since the epoch */
  until: number
  reason: string
}

export interface NodeStatus {
  state: 'starting' | 'running' | 'stopped' | 'failed'
  startedAt?: number
  peerId?: string
  address?: string
  multiaddrs: string[]
  relays: RelayStatus[]
  /** Other Peerloom nodes connected now (peers that speak the block protocol), one entry each; relays are under `relays`. */
  peers: PeerSummary[]
  /** Peers banned or demoted for lying, stalling or failing. */
  distrusted: DistrustedPeer[]
  cache: CacheStats
  donate: boolean
  served: { bytes: number, clients: number, activePeers: number }
  /** Bytes received since the extension was installed (kept across restarts). */
  received: ReceivedBytes
  errors: NodeError[]
}

export interface PublishOptions {
  name: string
  mime: string
  /** @default DEFAULT_CHUNK_SIZE */
  chunkSize?: number
  /** 0x + 64 hex digits. @default random */
  contentId?: string
}

export interface Published {
  link: string
  manifest: string
  root: string
  contentId: string
}

/** Rewards of this node as a donor, and the open epoch. */
export type NodeEarnings = Earnings & { epoch: string }

/**
 * What the node tells the extension's pages as it happens (rpc.ts relays them to the popup and
 * Options). `status` and `history` are coalesced: at most one per STATUS_EVENT_MS.
 */
export interface NodeEvents {
  /** Peers, relays, cache, meters, state or errors changed. */
  status: CustomEvent<NodeStatus>
  settings: CustomEvent<NodeSettings>
  /** Bytes moved, or a history bucket began (the chart scrolls). */
  history: CustomEvent<HistorySeries>
  /** The donor's receipts, claims or the open epoch changed. */
  earnings: CustomEvent<NodeEarnings>
  /** An error the node recorded (also in `status().errors`). */
  error: CustomEvent<NodeError>
}

/**
 * How long changes gather before one `status` (and `history`, `earnings`) event: during a
 * transfer every block changes the meters, and a page needs a few pictures a second, not hundreds.
 * @default 250
 */
const STATUS_EVENT_MS = 250

type Network = HeliaWithLibp2p<any>

/** Maximum errors kept for the popup. */
const MAX_ERRORS = 20

export class PeerloomNode extends TypedEventEmitter<NodeEvents> {
  private readonly db: StateDb
  private readonly settingsStore: SettingsStore
  private settingsValue?: NodeSettings
  private identity?: Identity
  private cache?: BlockCache
  private network?: Network
  private keeper?: RelayKeeper
  private server?: BlockServer
  private readonly budget = new UploadBudget({ rateBytesPerSec: 1, maxConnections: 1 })
  private readonly streamPool = new BlockStreamPool(PER_PEER_INFLIGHT)
  private readonly meter: ServeMeter
  private readonly history = new TransferHistory()
  private readonly errors: NodeError[] = []
  private readonly received: ReceivedMeter
  private readonly reputation: PeerReputation
  /** Connected peers whose identify named the block protocol: other Peerloom nodes. */
  private readonly peerloomPeers = new Set<string>()
  private readonly sessions = new Set<ContentSession>()
  private state: NodeStatus['state'] = 'stopped'
  private startedAt?: number
  private timers: Array<ReturnType<typeof setInterval>> = []
  /** Keys of gated content, receipts sent and received, claims. */
  private readonly rewards: Rewards
  /** The read pipeline: manifest, chunks, plaintext. */
  private readonly reader: ContentReader
  private fetcherLog?: Logger
  private readonly capabilities: NetworkCapability[]
  /** What changed since the last events went out, and the timer that sends them. */
  private readonly dirty = { status: false, history: false, earnings: false }
  private eventTimer?: ReturnType<typeof setTimeout>
  /** The earnings last sent, so that a claim pass that changed nothing sends nothing. */
  private lastEarnings?: string
  private readonly nodeLog = logger('peerloom:node')

  constructor (init: PeerloomNodeInit) {
    super()
    this.capabilities = init.capabilities ?? []
    this.rewards = new Rewards({
      settings: () => this.settings(),
      signer: () => identitySigner(this.identity as Identity),
      onError: err => { this.report(err) },
      onChange: () => { this.changed('earnings') }
    })
    this.reader = new ContentReader({
      openSession: () => this.session(),
      closeSession: session => { this.closeSession(session) },
      isCached: cid => this.cache?.has(cid) === true,
      keyFor: async (manifest, options) => await this.rewards.keyFor(manifest, options),
      trackReceipts: (stats, contentId) => this.rewards.track(stats, contentId),
      remember: async record => { await this.remember(record) },
      flushReceived: async () => { await this.received.flush() },
      onRead: (manifest, root, complete) => {
        if (complete && this.settingsValue?.donate === true) void this.announce(manifest, root).catch(err => { this.report(err) })
      },
      report: err => { this.report(err) }
    })
    this.db = init.db
    this.settingsStore = new SettingsStore(init.db, init.defaults)
    this.meter = new ServeMeter({
      store: {
        load: async () => await this.db.getAll('meter'),
        save: async records => {
          const tx = this.db.transaction('meter', 'readwrite')
          for (const record of records) void tx.store.put(record)
          await tx.done
        }
      }
    })
    this.received = new ReceivedMeter({ store: kvRecord<ReceivedBytes>(init.db, 'receivedTotals') })
    const reputationStore = kvRecord<ReputationRecord[]>(init.db, 'peerReputation')
    this.reputation = new PeerReputation({
      store: { load: async () => await reputationStore.load() ?? [], save: reputationStore.save },
      // a peer that lied is not kept connected, so later sessions cannot pick it up as a connected peer
      onBanned: peer => { void this.network?.libp2p.hangUp(peerIdFromString(peer)).catch(() => {}) },
      onChange: () => { this.changed('status') },
      onError: err => { this.report(err) }
    })
  }

  async start (): Promise<void> {
    this.setState('starting')
    try {
      this.settingsValue = await this.settingsStore.load()
      this.safeDispatchEvent('settings', { detail: this.settingsValue })
      this.identity = await loadOrCreateIdentity(this.db)
      await this.rewards.start()
      this.cache = new BlockCache({ db: this.db, capBytes: this.settingsValue.cacheCapBytes, onChange: () => { this.changed('status') } })
      await this.cache.start()
      await this.meter.start()
      await this.received.start()
      await this.reputation.start()
      this.history.restore(await this.db.getAll('history'))
      this.applyBudget(this.settingsValue)
      await this.startNetwork(this.settingsValue)
      this.timers.push(setInterval(() => { this.persistHistory().catch(err => { this.report(err) }) }, PERSIST_INTERVAL_MS))
      this.timers.push(setInterval(() => { this.announceAll().catch(err => { this.report(err) }) }, ANNOUNCE_INTERVAL_MS))
      // a new bucket begins: the chart scrolls even while nothing moves
      this.timers.push(setInterval(() => { this.changed('history') }, HISTORY_BUCKET_MS))
      this.startedAt = Date.now()
      this.setState('running')
      this.nodeLog('running as %p', this.identity.peerId)
      this.changed('earnings')
      if (this.settingsValue.donate) void this.announceAll().catch(err => { this.report(err) })
    } catch (err) {
      this.setState('failed')
      this.nodeLog.error('failed to start: %s', (err as Error).message)
      this.report(err)
      throw err
    }
  }

  private setState (state: NodeStatus['state']): void {
    this.state = state
    this.changed('status')
  }

  /**
   * Notes a change for the pages; the events go out together once STATUS_EVENT_MS passed. Only
   * events someone listens to are built (status() walks every connection).
   */
  private changed (what: 'status' | 'history' | 'earnings'): void {
    this.dirty[what] = true
    this.eventTimer ??= setTimeout(() => {
      this.eventTimer = undefined
      const { status, history, earnings } = this.dirty
      this.dirty.status = this.dirty.history = this.dirty.earnings = false
      if (status && this.listenerCount('status') > 0) this.safeDispatchEvent('status', { detail: this.status() })
      if (history && this.listenerCount('history') > 0) this.safeDispatchEvent('history', { detail: this.historySeries(CHART_BUCKETS) })
      if (earnings && this.listenerCount('earnings') > 0) void this.sendEarnings()
    }, STATUS_EVENT_MS)
  }

  private async sendEarnings (): Promise<void> {
    let earnings: NodeEarnings
    try {
      earnings = await this.rewards.earnings()
    } catch {
      return // not started yet, or stopped: the next change sends them
    }
    const text = JSON.stringify(earnings)
    if (text === this.lastEarnings) return
    this.lastEarnings = text
    this.safeDispatchEvent('earnings', { detail: earnings })
  }

  async stop (): Promise<void> {
    for (const timer of this.timers.splice(0)) clearInterval(timer)
    for (const session of this.sessions) session.close()
    await this.stopNetwork()
    await this.rewards.stop()
    await this.meter.stop()
    await this.received.stop()
    await this.reputation.stop()
    await this.persistHistory()
    await this.cache?.stop()
    this.setState('stopped')
    this.nodeLog('stopped')
  }

  private async startNetwork (settings: NodeSettings): Promise<void> {
    const identity = this.identity as Identity
    const relayHosts = settings.relays.map(relay => relay.slice(0, relay.lastIndexOf('/p2p/')))
    // libp2p's peer store stays in memory: relays come from settings and providers from lookups,
    // so it holds nothing worth keeping across restarts, and in IndexedDB it cost a read and a
    // write on both sides of every new stream (libp2p merges the protocol into the peer's record):
    // a fresh connection's first block stream took 22-86 ms to open, 19-53 ms with it in memory
    const helia = createHeliaLight({
      blockstore: (this.cache as BlockCache).blockstore() as never,
      routers: settings.routers.map(url => delegatedHTTPRouter({ url, timeout: 4000, cacheTTL: 0 }))
    })
    const reservations = Math.max(1, Math.min(settings.relays.length, 2))
    const network = withLibp2pLight(helia, {
      privateKey: identity.privateKey,
      addresses: { listen: [...Array<string>(reservations).fill('/p2p-circuit'), '/webrtc'] },
      transports: [
        webSockets(),
        circuitRelayTransport({ reservationCompletionTimeout: 10_000 }),
        webRTC({ rtcConfiguration: { iceServers: settings.iceServers }, dataChannel: { maxMessageSize: DATA_CHANNEL_MESSAGE_BYTES } })
      ],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      peerDiscovery: [],
      connectionGater: {
        // private and loopback addresses are dialled only when they are (or go through) a configured relay
        denyDialMultiaddr: async (ma: Multiaddr) => isPrivate(ma) && !relayHosts.some(host => ma.toString().startsWith(host)),
        denyDialPeer: async peer => this.reputation.isBanned(peer.toString())
      },
      connectionManager: { maxConnections: 64, addressDialTimeout: ADDRESS_DIAL_TIMEOUT_MS },
      // a slow ping on a loaded machine must not tear down the relay connection and the
      // reservation on it; real losses close the transport
      connectionMonitor: { abortConnectionOnPingFailure: false },
      services: {
        identify: identify(),
        ping: ping(),
        dht: kadDHT({ clientMode: true, peerInfoMapper: passthroughMapper }),
        // call rooms' signalling and presence (docs/CALLS.md); the relays mesh it between them
        pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false })
      }
    }) as unknown as Network
    await network.start() // creates the libp2p node; no peer is dialled before the keeper starts
    this.nodeLog('network up: %d relays, %d routers', settings.relays.length, settings.routers.length)
    this.network = network
    const libp2p = network.libp2p as Libp2p
    this.peerloomPeers.clear()
    libp2p.addEventListener('peer:identify', event => {
      const peer = event.detail.peerId.toString()
      if (event.detail.protocols.includes(BLOCK_PROTOCOL)) this.peerloomPeers.add(peer)
      else this.peerloomPeers.delete(peer)
      this.changed('status')
    })
    libp2p.addEventListener('peer:disconnect', event => { this.peerloomPeers.delete(event.detail.toString()) })
    // peers, direct or relayed, and this node's own addresses (a reservation adds a circuit address)
    for (const type of ['connection:open', 'connection:close', 'self:peer:update'] as const) libp2p.addEventListener(type, () => { this.changed('status') })
    this.server = new BlockServer({
      libp2p,
      cache: this.cache as BlockCache,
      budget: this.budget,
      isDonating: () => this.settingsValue?.donate === true,
      log: libp2p.logger.forComponent('peerloom:block-server'),
      onServed: (client, bytes) => {
        this.meter.record(client, bytes)
        this.history.record('served', bytes)
        this.changed('status')
        this.changed('history')
      }
    })
    await this.server.start()
    await this.rewards.attach(libp2p)
    for (const capability of this.capabilities) await capability.attach(libp2p)
    this.keeper = new RelayKeeper({
      log: libp2p.logger.forComponent('peerloom:relay-keeper'),
      dial: async (addr, options) => await libp2p.dial(addr, options),
      getConnections: peer => libp2p.getConnections(peer),
      getMultiaddrs: () => libp2p.getMultiaddrs(),
      onChange: () => { this.changed('status') }
    }, { relays: settings.relays })
    this.keeper.start()
  }

  private async stopNetwork (): Promise<void> {
    this.keeper?.stop()
    for (const capability of this.capabilities) await capability.detach().catch(err => { this.report(err) })
    await this.rewards.detach()
    await this.server?.stop()
    await this.network?.stop()
    this.network = undefined
  }

  private applyBudget (settings: NodeSettings): void {
    this.budget.configure({ rateBytesPerSec: settings.uploadRateBytesPerSec, maxConnections: settings.maxServeConnections, burstBytes: Math.max(settings.uploadRateBytesPerSec, MAX_BLOCK_BYTES) })
  }

  private libp2p (): Libp2p {
    if (this.network === undefined) throw new PeerloomError(ErrorCode.DISCONNECTED, 'the node is not running; it starts with the browser, or reload the extension')
    return this.network.libp2p as Libp2p
  }

  /** Records an error for the popup and returns it. */
  report (err: unknown): NodeError {
    const entry: NodeError = { at: Date.now(), code: isPeerloomError(err) ? err.code : ErrorCode.DISCONNECTED, message: err instanceof Error ? err.message : String(err) }
    this.nodeLog.error('error %d: %s', entry.code, entry.message)
    this.errors.push(entry)
    if (this.errors.length > MAX_ERRORS) this.errors.shift()
    this.safeDispatchEvent('error', { detail: entry })
    this.changed('status')
    return entry
  }

  settings (): NodeSettings {
    if (this.settingsValue === undefined) throw new PeerloomError(ErrorCode.DISCONNECTED, 'the node has not loaded its settings yet')
    return this.settingsValue
  }

  /** Validates, stores and applies a settings change; network changes restart the network part. */
  async updateSettings (patch: NodeSettingsInput): Promise<NodeSettings> {
    const before = this.settings()
    const next = await this.settingsStore.update(patch)
    this.settingsValue = next
    this.applyBudget(next)
    if (next.cacheCapBytes !== before.cacheCapBytes) await this.cache?.setCap(next.cacheCapBytes)
    const networkChanged = JSON.stringify([before.relays, before.routers, before.iceServers]) !== JSON.stringify([next.relays, next.routers, next.iceServers])
    if (networkChanged) {
      this.nodeLog('relays, routers or ICE servers changed: restarting the network')
      await this.stopNetwork()
      await this.startNetwork(next)
    }
    if (next.donate && !before.donate) void this.announceAll().catch(err => { this.report(err) })
    this.safeDispatchEvent('settings', { detail: next })
    // sharing on or off shows in the status; a new epoch length in the earnings
    this.changed('status')
    this.changed('earnings')
    return next
  }

  /** The node's identity key (it signs key requests and receipts; it never leaves the node document). */
  signer (): Wallet {
    return identitySigner(this.identity as Identity)
  }

  /** Keys, grants and receipts (calls use them for gated rooms and forwarded bytes). */
  get rewardsService (): Rewards {
    return this.rewards
  }

  status (): NodeStatus {
    const libp2p = this.network?.libp2p as Libp2p | undefined
    const peers = new Map<string, PeerSummary>()
    for (const c of libp2p?.getConnections() ?? []) {
      const peerId = c.remotePeer.toString()
      if (!this.peerloomPeers.has(peerId) || peers.get(peerId)?.direct === true) continue
      peers.set(peerId, { peerId, addr: c.remoteAddr.toString(), direct: c.limits === undefined })
    }
    return {
      state: this.state,
      ...(this.startedAt === undefined ? {} : { startedAt: this.startedAt }),
      ...(this.identity === undefined ? {} : { peerId: this.identity.peerId.toString(), address: this.identity.address }),
      multiaddrs: libp2p?.getMultiaddrs().map(ma => ma.toString()) ?? [],
      relays: this.keeper?.status() ?? [],
      peers: [...peers.values()],
      distrusted: this.reputation.list().map(({ peer, kind, until, reason }) => ({ peerId: peer, standing: kind, until, reason })),
      cache: this.cache?.stats() ?? { usedBytes: 0, capBytes: 0, blocks: 0 },
      donate: this.settingsValue?.donate === true,
      served: { bytes: this.meter.total, clients: this.meter.list().length, activePeers: this.budget.activePeers },
      received: this.received.value,
      errors: [...this.errors]
    }
  }

  /** Bytes served and received per second over the last `buckets` history buckets. */
  historySeries (buckets?: number): HistorySeries {
    return this.history.series(buckets)
  }

  /** Bytes served, per client. */
  servedClients (): ClientUsage[] {
    return this.meter.list()
  }

  /** Rewards of this node as a donor: pending, submitted and paid. */
  async earnings (): Promise<NodeEarnings> {
    return await this.rewards.earnings()
  }

  /** Closes the open reward epoch and claims it now. */
  async claimRewards (): Promise<NodeEarnings> {
    return await this.rewards.claimNow()
  }

  /** Sends the receipts still owed to servers; resolves with what they answered. */
  async flushReceipts (): Promise<{ answers: unknown, receipts: ReceiptStatus[] }> {
    const answers = await this.rewards.flushReceipts()
    return { answers: JSON.parse(JSON.stringify(answers, (_key, value: unknown) => typeof value === 'bigint' ? value.toString() : value)) as unknown, receipts: this.rewards.receiptStatus() }
  }

  private session (): ContentSession {
    const libp2p = this.libp2p()
    const network = this.network as Network
    const cache = this.cache as BlockCache
    const session = new ContentSession({
      cache,
      selfId: libp2p.peerId.toString(),
      findProviders: (cid, options) => findProviders(network, cid, options),
      dialProvider: async (provider, options) => await dialDirect(libp2p, provider, options),
      gateways: () => this.settings().gateways,
      streams: this.streamPool,
      connectedPeers: () => libp2p.getConnections()
        .filter(c => c.status === 'open' && c.limits === undefined && c.remoteAddr.toString().includes('/webrtc'))
        .map(c => ({ id: c.remotePeer.toString(), connection: c })),
      hedgeDelayMs: () => this.settings().hedgeDelayMs,
      reputation: this.reputation,
      log: this.fetcherLog ??= libp2p.logger.forComponent('peerloom:fetcher'),
      onReceived: (source, bytes) => {
        this.received.record(source, bytes)
        this.history.record('received', bytes)
        this.changed('status')
        this.changed('history')
      },
      onCacheError: err => { this.report(err) }
    })
    this.sessions.add(session)
    return session
  }

  /** Opens [start, end) of the content a link names and streams its plaintext (content/content-reader.ts). */
  async openContent (link: string, options: OpenOptions = {}): Promise<OpenedContent> {
    return await this.reader.open(link, options)
  }

  /** For a link without a key (gated content): obtains the key from the publisher's key service, or throws why not. */
  async prepareKey (link: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.reader.prepareKey(link, options)
  }

  /** A fetch session's end: its pins and streams released, no longer closed with the node. */
  private closeSession (session: ContentSession): void {
    session.close()
    this.sessions.delete(session)
  }

  /** Encrypts, chunks and stores a file from this browser; returns its link. Its blocks are pinned while it is imported. */
  async publish (source: ByteSource, options: PublishOptions): Promise<Published> {
    const identity = this.identity as Identity
    const cache = this.cache as BlockCache
    const contentKey = crypto.getRandomValues(new Uint8Array(32))
    const contentIdBytes = options.contentId === undefined ? crypto.getRandomValues(new Uint8Array(32)) : fromHex(options.contentId, 32, 'content id')
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE
    const cipher = await ChunkCipher.create(contentKey, contentIdBytes)
    const pinned: CID[] = []
    try {
      const sealed = await importSealedFile(source, {
        put: async (cid: CID, bytes: Uint8Array) => {
          cache.pin(cid)
          pinned.push(cid)
          await cache.put(cid, bytes)
          return cid
        }
      } as never, { cipher, chunkSize })
      const contentId = toHex(contentIdBytes)
      const unsigned = createManifest({ contentId, name: options.name, mime: options.mime, size: sealed.size, chunkSize, root: sealed.root, publisher: identity.address })
      const bytes = encodeManifest(await signManifest(unsigned, identitySigner(identity)))
      const cid = await manifestCid(bytes)
      await cache.put(cid, bytes)
      await this.remember({ manifest: cid.toString(), root: sealed.root.toString(), name: options.name, size: sealed.size, published: true, lastUsed: Date.now() })
      if (this.settingsValue?.donate === true) void this.announce(cid, sealed.root).catch(err => { this.report(err) })
      return { link: formatLink({ manifest: cid, key: contentKey }), manifest: cid.toString(), root: sealed.root.toString(), contentId }
    } finally {
      for (const cid of pinned) cache.unpin(cid)
    }
  }

  private async remember (record: ContentRecord): Promise<void> {
    const existing = await this.db.get('content', record.manifest)
    await this.db.put('content', { ...record, published: record.published || existing?.published === true })
  }

  /** Content this node has opened or published. */
  async contents (): Promise<ContentRecord[]> {
    return (await this.db.getAll('content')).sort((a, b) => b.lastUsed - a.lastUsed)
  }

  /** Tells the relays (DHT) that this node provides the content. Only while donating. */
  private async announce (manifest: CID, root: CID): Promise<void> {
    if (this.settingsValue?.donate !== true) return
    const libp2p = this.libp2p()
    const signal = AbortSignal.timeout(15_000)
    await Promise.all([manifest, root].map(async cid => { await libp2p.contentRouting.provide(cid, { signal }) }))
  }

  /** Announces every cached content whose root block is still cached. */
  async announceAll (): Promise<void> {
    if (this.settingsValue?.donate !== true) return
    const cache = this.cache as BlockCache
    for (const record of await this.db.getAll('content')) {
      const root = CID.parse(record.root)
      if (!cache.has(root)) continue
      await this.announce(CID.parse(record.manifest), root)
    }
  }

  /** Deletes every cached block and the content list. */
  async clearCache (): Promise<void> {
    await this.cache?.clear()
    await this.db.clear('content')
  }

  /** Replaces the identity with a new key: a new peer id and address. Restarts the node. */
  async resetIdentity (): Promise<void> {
    await this.stop()
    await deleteIdentity(this.db)
    await this.meter.reset()
    await this.db.clear('meter')
    await this.start()
  }

  private async persistHistory (): Promise<void> {
    const tx = this.db.transaction('history', 'readwrite')
    await tx.store.clear()
    for (const bucket of this.history.snapshot()) void tx.store.put(bucket)
    await tx.done
  }
}

/** Providers of `cid` from every router (the relays' delegated routing API and the DHT). */
async function * findProviders (network: Network, cid: CID, options: { signal: AbortSignal }): AsyncGenerator<ProviderInfo> {
  for await (const provider of network.routing.findProviders(cid, options)) {
    // routers disagree on how they spell peer ids (base58 or CID); normalise
    yield { id: peerIdFromString(provider.id.toString()), multiaddrs: provider.multiaddrs }
  }
}

/** A direct WebRTC connection to a provider, upgraded through the relay in its address. */
async function dialDirect (libp2p: Libp2p, provider: ProviderInfo, options: { signal: AbortSignal }): Promise<Connection> {
  const existing = libp2p.getConnections(provider.id).find(c => c.limits === undefined && c.status === 'open')
  if (existing !== undefined) return existing
  const webrtc = provider.multiaddrs.filter(ma => ma.toString().includes('/webrtc'))
  if (webrtc.length === 0) throw new NotFoundError(`provider ${provider.id.toString()} has no WebRTC address`)
  const connection = await libp2p.dial(webrtc, options)
  if (connection.limits !== undefined) throw new NotFoundError(`only a relayed connection to ${provider.id.toString()} could be made`)
  return connection
}

export function createPeerloomNode (init: PeerloomNodeInit): PeerloomNode {
  return new PeerloomNode(init)
}
