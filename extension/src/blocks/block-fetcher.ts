/**
 * Fetches blocks for one piece of content: from peers that provide it (found through the
 * relays), several in parallel, and from the origin gateway when no peer can help. Every
 * block is verified against its CID before anyone sees it; peers that send bad bytes, refuse,
 * fail or stall are no longer asked, and those that lied, stalled or failed are remembered
 * (PeerReputation) so later sessions skip or demote them. Verified blocks go into the cache.
 */
import { IntegrityError, NotFoundError, fetchGatewayBlock, verifyBlock } from '@peerloom/shared'
import type { Connection, Logger, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import { raceSignal } from 'race-signal'
import type { BlockCache } from '../cache/block-cache.ts'
import { BlockRefusedError, BlockStatus, BlockStreamPool } from './block-protocol.ts'
import type { BlockStream } from './block-protocol.ts'
import type { PeerReputation, Standing } from '../net/peer-reputation.ts'
import {
  BLOCK_REQUEST_TIMEOUT_MS, ORIGIN_REQUEST_TIMEOUT_MS, PEER_FAILURE_LIMIT, PER_PEER_INFLIGHT,
  PROVIDER_DIAL_TIMEOUT_MS, PROVIDER_LOOKUP_TIMEOUT_MS, PROVIDER_DIAL_GRACE_MS, PROVIDER_DIAL_ATTEMPTS, PROVIDER_DIAL_BACKOFF_MS,
  ORIGIN_HEAD_BLOCKS_WHILE_DIALING, ORIGIN_HEAD_ONLY_MS, STREAM_OPEN_ALLOWANCE_MS
} from '../constants.ts'

/**
 * How long a peer may leave every request sent to it unanswered before it counts as stalled:
 * it gets no new requests, the ones it holds race the origin at once, and it is demoted. A
 * 256 KiB block took at most a few hundred ms between two loaded browsers on loopback.
 * @default 3_000
 */
export const PEER_SILENCE_MS = 3_000

export interface ProviderInfo {
  id: PeerId
  multiaddrs: Multiaddr[]
}

/** What the fetcher needs from the node. */
export interface BlockFetcherComponents {
  cache: BlockCache
  selfId: string
  findProviders: (cid: CID, options: { signal: AbortSignal }) => AsyncIterable<ProviderInfo>
  /** Opens a direct (not relayed) connection to a provider. */
  dialProvider: (provider: ProviderInfo, options: { signal: AbortSignal }) => Promise<Connection>
  gateways: () => string[]
  /**
   * Peers this node already has a direct connection to; they are asked first, before any
   * lookup answers, and dropped at their first "not found" unless a lookup names them.
   */
  connectedPeers?: () => Array<{ id: string, connection: Connection }>
  /** Open block streams, shared across sessions. @default a pool of this session's own */
  streams?: BlockStreamPool
  onReceived: (source: 'peer' | 'origin', bytes: number) => void
  /** Reports a block that could not be cached (quota); the transfer goes on without caching it. */
  onCacheError: (err: unknown) => void
  /**
   * How long peers get before the origin is asked: at the start, while providers are still
   * being looked up and dialled, and per block when a peer is slow to answer. @default 0
   */
  hedgeDelayMs?: () => number
  /** Peers that misbehaved in earlier sessions: banned ones are skipped, demoted ones asked last. */
  reputation?: Pick<PeerReputation, 'standing' | 'penalize' | 'credit'>
  /** Scoped logger (`peerloom:fetcher`); silent unless enabled with `localStorage.debug`. */
  log?: Logger
  /** The time and the timers the hedge and stall decisions run on (tests drive their own). @default the real ones */
  clock?: Clock
  /** How the origin gateway is asked. @default globalThis.fetch */
  fetch?: typeof globalThis.fetch
}

/** The time and timers a session decides by. */
export interface Clock {
  now: () => number
  setTimeout: (callback: () => void, ms: number) => ReturnType<typeof setTimeout>
  clearTimeout: (timer: ReturnType<typeof setTimeout> | undefined) => void
}

const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: timer => { clearTimeout(timer) }
}

export interface FetchStats {
  fromPeers: number
  fromOrigin: number
  fromCache: number
  /** Bytes per provider peer id. */
  perPeer: Record<string, number>
  /** Peers no longer asked, with the reason (including peers banned by an earlier session). */
  droppedPeers: Record<string, string>
  /** Peers asked only when no other peer and no origin can deliver, with the reason. */
  demotedPeers: Record<string, string>
  /** Block streams opened to peers. */
  streamsOpened: number
  /** Requests that failed (other than "not found"), with the last error per peer. */
  failedRequests: number
  lastErrors: Record<string, string>
  /**
   * Providers a lookup named, per peer id: ms from the first cache miss until the lookup named
   * it and until a direct connection was up (absent if none was made), and the dial attempts.
   */
  dials: Record<string, { foundMs: number, connectedMs?: number, attempts: number }>
}

interface ProviderState {
  id: string
  connection: Connection
  inflight: number
  failures: number
  dropped?: string
  /** Not asked again before this time (a busy peer). */
  restUntil: number
  /** Already connected, not (yet) named by a lookup. */
  speculative?: boolean
  /** Demoted by its reputation: asked only when nothing else can deliver. */
  demoted?: boolean
  /** Left every request unanswered for PEER_SILENCE_MS: not asked until it answers. */
  silent?: boolean
  /** Requests sent and not yet answered. */
  outstanding: number
  silenceTimer?: ReturnType<typeof setTimeout>
  /** Hedges of its pending requests, fired at once when it falls silent. */
  hedges: Set<() => void>
  /** Already penalized in this session (one strike per session, however many requests failed). */
  penalized?: boolean
}

const SPECULATIVE_MISS = 'does not hold this content'

/**
 * A fetch session for one piece of content. Create with the content's CIDs (manifest, then
 * root once known); `get` returns verified blocks; `close` releases pins and streams.
 */
export class ContentSession {
  readonly stats: FetchStats = { fromPeers: 0, fromOrigin: 0, fromCache: 0, perPeer: {}, droppedPeers: {}, demotedPeers: {}, streamsOpened: 0, failedRequests: 0, lastErrors: {}, dials: {} }
  private readonly components: BlockFetcherComponents
  private readonly providers = new Map<string, ProviderState>()
  private readonly dialing = new Set<string>()
  /** Dials to demoted peers: the origin does not wait for them. */
  private readonly dialingDemoted = new Set<string>()
  private readonly inflight = new Map<string, Promise<Uint8Array>>()
  /** Fetches under way, in the order they were asked for (the reader's order). */
  private readonly queued = new Set<number>()
  private nextFetch = 0
  private readonly pinned: CID[] = []
  private readonly controller = new AbortController()
  private lookups = 0
  private waiters: Array<() => void> = []
  private wakeTimer?: ReturnType<typeof setTimeout>
  private wakeAt = Infinity
  /** Block requests to peers under way (aborted when the session closes). */
  private readonly requests = new Set<AbortController>()
  private closed = false
  /** Lookups wait for the first cache miss: content that is cached needs no peers. */
  private readonly undiscovered: CID[] = []
  private discovering = false
  private readonly clock: Clock
  private discoveryStartedAt: number

  private readonly streams: BlockStreamPool
  /** Cache writes still in progress. */
  private readonly writes = new Set<Promise<void>>()

  constructor (components: BlockFetcherComponents) {
    this.components = components
    this.clock = components.clock ?? realClock
    this.discoveryStartedAt = this.clock.now()
    this.streams = components.streams ?? new BlockStreamPool(PER_PEER_INFLIGHT)
  }

  private hedgeDelay (): number {
    return this.components.hedgeDelayMs?.() ?? 0
  }

  /**
   * Looks up providers of `cid` through the relays and connects to them in the background,
   * starting at the session's first cache miss.
   */
  discover (cid: CID): void {
    if (this.discovering) this.lookup(cid)
    else this.undiscovered.push(cid)
  }

  private startDiscovery (): void {
    if (this.discovering) return
    this.discovering = true
    this.discoveryStartedAt = this.clock.now()
    for (const { id, connection } of this.components.connectedPeers?.() ?? []) {
      if (id === this.components.selfId || this.providers.has(id) || this.banned(id)) continue
      this.addProvider(id, connection, true)
    }
    for (const cid of this.undiscovered.splice(0)) this.lookup(cid)
  }

  private lookup (cid: CID): void {
    this.lookups++
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(PROVIDER_LOOKUP_TIMEOUT_MS)])
    const dials: Array<Promise<void>> = []
    void (async () => {
      try {
        for await (const provider of this.components.findProviders(cid, { signal })) {
          const id = provider.id.toString()
          const known = this.providers.get(id)
          if (known?.speculative === true) { // a connected peer the lookup confirms: keep asking it
            known.speculative = false
            if (known.dropped === SPECULATIVE_MISS) {
              delete known.dropped
              delete this.stats.droppedPeers[id]
            }
          }
          if (id === this.components.selfId || known !== undefined || this.dialing.has(id) || this.banned(id)) continue
          if (!provider.multiaddrs.some(ma => ma.toString().includes('/webrtc'))) continue // relays and origins speak bitswap/HTTP, not our protocol
          this.dialing.add(id)
          const standing = this.components.reputation?.standing(id)
          if (standing?.kind === 'demoted') {
            this.dialingDemoted.add(id)
            this.stats.demotedPeers[id] = `until ${new Date(standing.until).toISOString()}: ${standing.reason}`
          }
          this.stats.dials[id] = { foundMs: this.clock.now() - this.discoveryStartedAt, attempts: 0 }
          this.lookups++ // a pending dial keeps the session from giving up on peers
          dials.push(this.connect(provider).finally(() => {
            this.dialing.delete(id)
            this.dialingDemoted.delete(id)
            this.lookups--
            this.notify()
          }))
        }
      } catch {
        // a lookup that fails or times out just finds nobody
      } finally {
        this.lookups--
        this.notify()
      }
    })()
  }

  private async connect (provider: ProviderInfo): Promise<void> {
    // signalling goes through a relay, which can fail transiently (a busy relay, a hop timeout): retry with backoff
    let lastError: unknown
    for (let attempt = 0; attempt < PROVIDER_DIAL_ATTEMPTS; attempt++) {
      if (attempt > 0) await new Promise<void>(resolve => this.clock.setTimeout(resolve, PROVIDER_DIAL_BACKOFF_MS * 2 ** (attempt - 1)))
      if (this.closed) return
      const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(PROVIDER_DIAL_TIMEOUT_MS)])
      const id = provider.id.toString()
      const dial = this.stats.dials[id]
      if (dial !== undefined) dial.attempts++
      try {
        const connection = await this.components.dialProvider(provider, { signal })
        if (dial !== undefined) dial.connectedMs = this.clock.now() - this.discoveryStartedAt
        this.addProvider(id, connection, false)
        return
      } catch (err) {
        lastError = err
      }
    }
    const inner = (lastError as { errors?: Error[] }).errors?.map(e => e.message).join('; ')
    this.stats.droppedPeers[provider.id.toString()] = `could not connect after ${PROVIDER_DIAL_ATTEMPTS} attempts: ${(lastError as Error).message}${inner === undefined || inner === '' ? '' : ` (${inner})`}`
  }

  /** True (and noted in the stats) when the peer is banned by its reputation. */
  private banned (id: string): boolean {
    const standing = this.components.reputation?.standing(id)
    if (standing?.kind !== 'banned') return false
    this.stats.droppedPeers[id] = `banned until ${new Date(standing.until).toISOString()}: ${standing.reason}`
    return true
  }

  private addProvider (id: string, connection: Connection, speculative: boolean): void {
    const provider: ProviderState = { id, connection, inflight: 0, failures: 0, restUntil: 0, outstanding: 0, hedges: new Set(), ...(speculative ? { speculative } : {}) }
    this.applyStanding(provider, this.components.reputation?.standing(id) ?? { kind: 'good' })
    this.providers.set(id, provider)
  }

  private applyStanding (provider: ProviderState, standing: Standing): void {
    if (standing.kind === 'good') return
    if (standing.kind === 'banned') {
      this.drop(provider, `banned until ${new Date(standing.until).toISOString()}: ${standing.reason}`)
      return
    }
    provider.demoted = true
    this.stats.demotedPeers[provider.id] = `until ${new Date(standing.until).toISOString()}: ${standing.reason}`
  }

  /** One strike per peer and session, remembered beyond it. */
  private penalize (provider: ProviderState, offence: 'integrity' | 'stalled' | 'failed', reason: string): void {
    if (provider.penalized === true && offence !== 'integrity') return
    provider.penalized = true
    this.components.log?.('penalized peer %s (%s): %s', provider.id, offence, reason)
    const reputation = this.components.reputation
    if (reputation !== undefined) this.applyStanding(provider, reputation.penalize(provider.id, offence, reason))
  }

  /** Keeps `cid` in the cache for the life of the session (manifest, root, inner nodes). */
  pin (cid: CID): void {
    this.components.cache.pin(cid)
    this.pinned.push(cid)
  }

  /** The verified block `cid`, from the cache, a peer or the origin. */
  async get (cid: CID, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const cached = await this.components.cache.get(cid)
    if (cached !== undefined) {
      this.stats.fromCache += cached.length
      return cached
    }
    this.startDiscovery()
    const key = cid.toString()
    let pending = this.inflight.get(key)
    if (pending === undefined) {
      const order = this.nextFetch++
      this.queued.add(order)
      pending = this.fetch(cid, order).finally(() => {
        this.inflight.delete(key)
        this.queued.delete(order)
        this.notify()
      })
      this.inflight.set(key, pending)
    }
    // a caller that gives up stops waiting; the fetch goes on for the others sharing it
    return await raceSignal(pending, options.signal)
  }

  /** True when the fetch `order` is among the first `count` still under way. */
  private isHead (order: number, count: number): boolean {
    let ahead = 0
    for (const other of this.queued) {
      if (other === order) return true
      if (++ahead >= count) return false
    }
    return false
  }

  private async fetch (cid: CID, order: number): Promise<Uint8Array> {
    const tried = new Set<string>()
    let originFailed: unknown
    while (true) {
      if (this.closed) throw new NotFoundError('the transfer was closed')
      const provider = this.pick(tried, originFailed !== undefined)
      if (provider !== undefined) {
        const hedged = await this.fromPeerHedged(provider, cid, originFailed === undefined)
        if (hedged.origin instanceof Uint8Array) return await this.keep(cid, hedged.origin, 'origin')
        if (hedged.originError !== undefined) originFailed = hedged.originError
        const answer = hedged.peer
        if (answer instanceof Uint8Array) return await this.keep(cid, answer, 'peer', provider.id)
        if (answer === 'missing') {
          tried.add(provider.id)
          if (provider.speculative === true) this.drop(provider, SPECULATIVE_MISS)
        }
        continue
      }
      const waitingForPeers = this.lookups > 0 || this.hasUsable(tried, true, originFailed !== undefined)
      // peers being looked up get the hedge delay (from the first miss) before the origin is asked; found providers still being dialled a little more
      const preferredDials = this.dialing.size - this.dialingDemoted.size
      const hedgeAt = this.discoveryStartedAt + this.hedgeDelay() + (preferredDials > 0 && this.hedgeDelay() > 0 ? PROVIDER_DIAL_GRACE_MS : 0)
      // a found provider still being dialled: the origin serves what the reader waits on, the rest waits for the peer
      const headOnly = preferredDials > 0 && this.clock.now() < hedgeAt + ORIGIN_HEAD_ONLY_MS && !this.isHead(order, ORIGIN_HEAD_BLOCKS_WHILE_DIALING)
      if (originFailed === undefined && (!waitingForPeers || (this.usableCount() === 0 && this.clock.now() >= hedgeAt && !headOnly))) {
        // nobody to ask right now: the origin, if one is configured
        try {
          const bytes = await this.fromOrigin(cid)
          return await this.keep(cid, bytes, 'origin')
        } catch (err) {
          originFailed = err
          continue
        }
      }
      if (!waitingForPeers) {
        const why = originFailed === undefined ? '' : `; origin: ${(originFailed as Error).message}`
        throw new NotFoundError(`no peer and no origin delivered block ${cid.toString()} (asked ${tried.size} ${tried.size === 1 ? 'peer' : 'peers'}${why})`, { data: { cid: cid.toString() } })
      }
      await this.changed(originFailed === undefined && this.usableCount() === 0 && this.clock.now() < hedgeAt ? hedgeAt - this.clock.now() : undefined)
    }
  }

  /**
   * Asks a peer; when `mayRace` and the peer has not answered within the hedge delay (scaled by
   * the requests already queued on it), the origin is raced and the first verified block wins.
   */
  private async fromPeerHedged (provider: ProviderState, cid: CID, mayRace: boolean): Promise<{ peer?: Uint8Array | 'missing' | 'failed', origin?: Uint8Array, originError?: unknown }> {
    const delay = this.hedgeDelay() * (1 + provider.inflight)
    let sent = (): void => {}
    const peer = this.fromPeer(provider, cid, () => { sent() })
    if (!mayRace || delay <= 0 || this.components.gateways().length === 0) return { peer: await peer }
    // the hedge delay runs from when the request went out: opening a stream on a connection this
    // session just made (a data channel and a protocol negotiation) is not the peer being slow, up
    // to a limit; an already connected peer asked on speculation gets no allowance (its connection
    // may be dead, and it probably does not hold the content)
    const timers: Array<ReturnType<typeof setTimeout>> = []
    let fire = (): void => {}
    const hedge = new Promise<'hedge'>(resolve => {
      fire = () => { resolve('hedge') }
      provider.hedges.add(fire)
      let started = false
      const start = (): void => {
        if (started) return
        started = true
        timers.push(this.clock.setTimeout(() => { resolve('hedge') }, delay))
      }
      sent = start
      if (provider.speculative === true) start()
      else timers.push(this.clock.setTimeout(start, STREAM_OPEN_ALLOWANCE_MS))
    })
    const first = await Promise.race([peer, hedge])
    for (const timer of timers) this.clock.clearTimeout(timer)
    provider.hedges.delete(fire)
    if (first !== 'hedge') return { peer: first }
    const origin = this.fromOrigin(cid).then(bytes => ({ bytes }), (err: unknown) => ({ err }))
    const winner = await Promise.race([peer.then(answer => ({ answer })), origin])
    if ('answer' in winner && winner.answer instanceof Uint8Array) return { peer: winner.answer }
    if ('bytes' in winner) return { origin: winner.bytes }
    if ('err' in winner) return { peer: await peer, originError: winner.err }
    const late = await origin // the peer could not help: the origin's answer decides
    return 'bytes' in late ? { origin: late.bytes } : { peer: winner.answer, originError: late.err }
  }

  /** Peers to wait for before the origin is asked: neither dropped, demoted nor silent. */
  private usableCount (): number {
    let count = 0
    for (const provider of this.providers.values()) if (provider.dropped === undefined && provider.demoted !== true && provider.silent !== true) count++
    return count
  }

  /** True when some peer could still be asked for this block (now, or once it has a free slot or answers again). */
  private hasUsable (tried: Set<string>, includeBusy: boolean, allowDemoted: boolean): boolean {
    for (const provider of this.providers.values()) {
      if (provider.dropped !== undefined || tried.has(provider.id) || (provider.demoted === true && !allowDemoted)) continue
      if (includeBusy || provider.inflight < PER_PEER_INFLIGHT) return true
    }
    return false
  }

  /**
   * The least loaded peer not yet asked for this block that has a free slot and is not silent;
   * demoted peers only when `allowDemoted` (the origin could not deliver), after all others.
   */
  private pick (tried: Set<string>, allowDemoted: boolean): ProviderState | undefined {
    let best: ProviderState | undefined
    const now = this.clock.now()
    for (const provider of this.providers.values()) {
      if (provider.dropped !== undefined || tried.has(provider.id) || provider.inflight >= PER_PEER_INFLIGHT || provider.restUntil > now || provider.silent === true) continue
      if (provider.demoted === true && !allowDemoted) continue
      if (best === undefined || (best.demoted === true && provider.demoted !== true) || (best.demoted === provider.demoted && provider.inflight < best.inflight)) best = provider
    }
    return best
  }

  /** Starts the silence watchdog of a peer that has requests out and no running watchdog. */
  private watchSilence (provider: ProviderState): void {
    if (provider.silenceTimer !== undefined || provider.outstanding === 0 || this.closed) return
    provider.silenceTimer = this.clock.setTimeout(() => {
      provider.silenceTimer = undefined
      if (this.closed || provider.outstanding === 0 || provider.dropped !== undefined) return
      provider.silent = true
      const reason = `sent no answer for ${PEER_SILENCE_MS} ms to ${provider.outstanding} ${provider.outstanding === 1 ? 'request' : 'requests'}`
      this.stats.lastErrors[provider.id] = reason
      this.penalize(provider, 'stalled', reason)
      for (const fire of [...provider.hedges]) fire() // its pending requests race the origin now
      this.notify()
    }, PEER_SILENCE_MS)
  }

  /** The peer answered (anything): it is not silent, and the watchdog starts over for what it still holds. */
  private heard (provider: ProviderState): void {
    this.clock.clearTimeout(provider.silenceTimer)
    provider.silenceTimer = undefined
    provider.silent = false
    this.watchSilence(provider)
  }

  /** The verified block, 'missing' when the peer does not hold it, 'failed' otherwise. */
  private async fromPeer (provider: ProviderState, cid: CID, onSent?: () => void): Promise<Uint8Array | 'missing' | 'failed'> {
    provider.inflight++
    // a controller and a timer cleared on completion, not AbortSignal.timeout/any: those live on
    // for the whole timeout after the answer, hundreds of them per transfer, for the (memory-saving)
    // garbage collector of the extension's renderer to trace
    const request = new AbortController()
    const timer = this.clock.setTimeout(() => { request.abort(new Error('stalled')) }, BLOCK_REQUEST_TIMEOUT_MS)
    this.requests.add(request)
    const signal = request.signal
    let stream: BlockStream | undefined
    try {
      const taken = await this.streams.take(provider.connection, { signal })
      stream = taken.stream
      if (taken.opened) this.stats.streamsOpened++
      const request = stream.request(cid, { signal })
      provider.outstanding++
      this.watchSilence(provider)
      onSent?.()
      const bytes = await request.finally(() => {
        provider.outstanding--
        if (!signal.aborted) this.heard(provider)
      })
      await verifyBlock(cid, bytes)
      this.streams.give(provider.connection, stream)
      provider.failures = 0
      this.components.reputation?.credit(provider.id)
      return bytes
    } catch (err) {
      if (this.closed) { // requests the session ended are not the peer's failures
        stream?.abort(new Error('session closed'))
        return 'failed'
      }
      if (err instanceof BlockRefusedError) {
        this.streams.give(provider.connection, stream as BlockStream)
        if (err.status === BlockStatus.NOT_SERVING) this.drop(provider, 'not serving (donation is off)')
        else if (err.status === BlockStatus.BUSY) provider.restUntil = this.clock.now() + 1000
        // NOT_FOUND: a partial cache; this peer is simply not asked for this block again
        return err.status === BlockStatus.NOT_FOUND ? 'missing' : 'failed'
      } else {
        stream?.abort(err instanceof Error ? err : new Error(String(err)))
        this.stats.failedRequests++
        this.stats.lastErrors[provider.id] = signal.aborted ? 'stalled' : (err as Error).message
        if (err instanceof IntegrityError) {
          this.drop(provider, err.message)
          this.penalize(provider, 'integrity', err.message)
        } else if (++provider.failures >= PEER_FAILURE_LIMIT) {
          const reason = signal.aborted ? `stalled (no answer within ${BLOCK_REQUEST_TIMEOUT_MS} ms)` : (err as Error).message
          this.drop(provider, reason)
          this.penalize(provider, signal.aborted ? 'stalled' : 'failed', reason)
        }
      }
      return 'failed'
    } finally {
      this.clock.clearTimeout(timer)
      this.requests.delete(request)
      provider.inflight--
      this.notify()
    }
  }

  private drop (provider: ProviderState, reason: string): void {
    this.components.log?.('dropped peer %s: %s', provider.id, reason)
    provider.dropped = reason
    this.stats.droppedPeers[provider.id] = reason
    this.clock.clearTimeout(provider.silenceTimer)
    provider.silenceTimer = undefined
    for (const fire of [...provider.hedges]) fire()
  }

  private async fromOrigin (cid: CID): Promise<Uint8Array> {
    return await fetchGatewayBlock(cid, { gateways: this.components.gateways(), timeoutMs: ORIGIN_REQUEST_TIMEOUT_MS, signal: this.controller.signal, ...(this.components.fetch === undefined ? {} : { fetch: this.components.fetch }) })
  }

  private async keep (cid: CID, bytes: Uint8Array, source: 'peer' | 'origin', peer?: string): Promise<Uint8Array> {
    if (source === 'peer' && peer !== undefined) {
      this.stats.fromPeers += bytes.length
      this.stats.perPeer[peer] = (this.stats.perPeer[peer] ?? 0) + bytes.length
    } else {
      this.stats.fromOrigin += bytes.length
    }
    this.components.onReceived(source, bytes.length)
    // the reader need not wait for IndexedDB: the cache books the bytes at once, so its cap holds,
    // and may hold the write back to share a transaction with the blocks that follow
    const write = this.components.cache.put(cid, bytes, { deferred: true }).catch(err => { this.components.onCacheError(err) })
    this.writes.add(write)
    void write.finally(() => this.writes.delete(write))
    return bytes
  }

  private notify (): void {
    this.clock.clearTimeout(this.wakeTimer)
    this.wakeTimer = undefined
    this.wakeAt = Infinity
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }

  /**
   * Resolves at the next event, or after `atMostMs` at the latest: a busy peer's rest period
   * (or the hedge delay) ends without an event. Waiters share one timer, set for the earliest.
   */
  private async changed (atMostMs = 250): Promise<void> {
    const at = this.clock.now() + Math.max(1, Math.min(250, atMostMs))
    if (at < this.wakeAt) {
      this.clock.clearTimeout(this.wakeTimer)
      this.wakeAt = at
      this.wakeTimer = this.clock.setTimeout(() => { this.notify() }, at - this.clock.now())
    }
    await new Promise<void>(resolve => { this.waiters.push(resolve) })
  }

  /** Resolves once every block fetched so far has been written to the cache (or failed to be). */
  async flush (): Promise<void> {
    if (this.writes.size > 0) this.components.cache.commitDeferred()
    await Promise.all([...this.writes])
  }

  /** Peers this session has connections to and has not dropped. */
  get activePeers (): string[] {
    return [...this.providers.values()].filter(p => p.dropped === undefined).map(p => p.id)
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.controller.abort(new Error('session closed'))
    for (const request of this.requests) request.abort(new Error('session closed'))
    for (const provider of this.providers.values()) this.clock.clearTimeout(provider.silenceTimer)
    for (const cid of this.pinned.splice(0)) this.components.cache.unpin(cid)
    this.notify()
  }
}
