/**
 * The media role as a network capability (docs/CALLS.md, Forwarders): while the donor has
 * `media.forward` on, the node answers FORWARD_PROTOCOL, runs the passthrough engine in its
 * document and announces itself on FORWARDERS_TOPIC every 5 s. Every message from a peer is
 * validated; a bad one gets `error { code }` and its stream is closed, nothing else stops.
 *
 * @example
 * ```ts
 * const forwarder = new ForwarderService({ media: () => node.settings().media, createWorker })
 * createPeerloomNode({ db, capabilities: [forwarder] })
 * ```
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, Libp2p, Logger, Stream } from '@libp2p/interface'
import { CallNotFoundError, ErrorCode, FORWARDERS_TOPIC, FORWARD_PROTOCOL, InvalidParamsError, PeerloomError, UnsupportedMethodError, errorToWire } from '@peerloom/shared'
import type { NodeSettings } from '@peerloom/shared'
import { ForwarderEngine } from './engine.ts'
import type { ForwarderEngineInit, ForwarderStats, PassthroughEngine } from './engine.ts'
import { ForwardStream } from './forward-stream.ts'
import type { ForwardMessage } from './messages.ts'
import type { SampledFrame } from './relay-protocol.ts'

/** Announcements on FORWARDERS_TOPIC this often (CALLS.md). */
export const ANNOUNCE_INTERVAL_MS = 5000
/** The media settings are re-read this often, so turning the role on or off needs no restart. */
const SETTINGS_CHECK_MS = 1000
/** The first message of a stream (attach or cascade) must come within this. */
const FIRST_MESSAGE_TIMEOUT_MS = 10_000
/** Opening a cascade leg: dial, `cascade`, `attached`. */
const CASCADE_OPEN_TIMEOUT_MS = 20_000
/** Legs one peer may hold on this forwarder (it may be in a few rooms at once). */
const MAX_STREAMS_PER_PEER = 4
/** Addresses an announcement carries at most, each at most this long (CALLS.md). */
export const MAX_ANNOUNCED_ADDRS = 8
export const MAX_ANNOUNCED_ADDR_CHARS = 512

export interface ForwarderServiceInit {
  media: () => NodeSettings['media']
  /** The transform worker: in the extension `new Worker(chrome.runtime.getURL('/forwarder-worker.js'))`. */
  createWorker: () => Worker
  iceServers?: () => RTCIceServer[]
  onError?: (err: unknown) => void
  /** @default the passthrough ForwarderEngine (tests pass a stand-in) */
  createEngine?: (init: ForwarderEngineInit) => PassthroughEngine
}

interface PubSub {
  publish: (topic: string, data: Uint8Array) => Promise<unknown>
}

/** One FORWARD_PROTOCOL stream, attached to one engine leg. */
class ForwardSession extends ForwardStream {
  readonly remotePeer: string
  legId?: string

  constructor (stream: Stream, remotePeer: string) {
    super(stream)
    this.remotePeer = remotePeer
  }

  /** Sends `error`, then closes. */
  async fail (err: unknown): Promise<void> {
    const wire = errorToWire(err)
    this.send({ type: 'error', code: wire.code, message: wire.message.slice(0, 2000) })
    await this.close()
  }
}

export class ForwarderService {
  private readonly init: ForwarderServiceInit
  private libp2p?: Libp2p
  private log?: Logger
  private engine?: PassthroughEngine
  private handling = false
  private readonly sessions = new Map<string, ForwardSession>()
  private settingsTimer?: ReturnType<typeof setInterval>
  private lastAnnounce = 0
  /** `${roomId}/${peer}` of cascade legs being opened, so two attaches do not open the same one twice. */
  private readonly opening = new Set<string>()

  constructor (init: ForwarderServiceInit) {
    this.init = init
  }

  /** What the engine forwards now (for the popup and tests); undefined while the role is off. */
  stats (): ForwarderStats | undefined {
    return this.engine?.stats()
  }

  /** The next `count` frames from `peerId` in `roomId` as they reach this forwarder (tests check they are ciphertext). */
  async sampleFrames (roomId: string, peerId: string, kind: 'audio' | 'video', count: number): Promise<SampledFrame[]> {
    const engine = this.engine
    if (engine?.sampleFrames === undefined) throw new UnsupportedMethodError('this node does not forward calls now')
    return await engine.sampleFrames(roomId, peerId, kind, count)
  }

  async attach (libp2p: Libp2p): Promise<void> {
    this.libp2p = libp2p
    this.log = libp2p.logger.forComponent('peerloom:forwarder')
    await this.applySettings()
    this.settingsTimer = setInterval(() => { void this.tick() }, SETTINGS_CHECK_MS)
  }

  async detach (): Promise<void> {
    clearInterval(this.settingsTimer)
    this.settingsTimer = undefined
    await this.stopForwarding()
    this.libp2p = undefined
  }

  private async tick (): Promise<void> {
    try {
      await this.applySettings()
      if (this.handling && Date.now() - this.lastAnnounce >= ANNOUNCE_INTERVAL_MS) await this.announce()
    } catch (err) {
      this.init.onError?.(err)
    }
  }

  private async applySettings (): Promise<void> {
    const on = this.init.media().forward
    if (on && !this.handling) await this.startForwarding()
    else if (!on && this.handling) await this.stopForwarding()
  }

  private async startForwarding (): Promise<void> {
    const libp2p = this.libp2p
    if (libp2p === undefined) return
    this.handling = true
    const createEngine = this.init.createEngine ?? ((engineInit: ForwarderEngineInit) => new ForwarderEngine(engineInit))
    this.engine = createEngine({
      createWorker: this.init.createWorker,
      limits: () => {
        const media = this.init.media()
        return { maxStreams: media.maxStreams, uploadRateBytesPerSec: media.uploadRateBytesPerSec }
      },
      ...(this.init.iceServers === undefined ? {} : { iceServers: this.init.iceServers }),
      send: (legId, message) => { this.sessions.get(legId)?.send(message) },
      onClosed: (legId, reason) => {
        this.log?.('leg %s closed: %s', legId, reason)
        const session = this.sessions.get(legId)
        this.sessions.delete(legId)
        void session?.close()
      }
    })
    await libp2p.handle(FORWARD_PROTOCOL, (stream, connection) => { void this.serve(stream, connection) }, {
      maxInboundStreams: 64,
      // media goes over the legs' own RTCPeerConnections; the stream only signals, so a relayed connection will do
      runOnLimitedConnection: true
    })
    await this.announce()
  }

  private async stopForwarding (): Promise<void> {
    if (!this.handling) return
    this.handling = false
    await this.libp2p?.unhandle(FORWARD_PROTOCOL).catch(() => {})
    this.engine?.close()
    this.engine = undefined
    const sessions = [...this.sessions.values()]
    this.sessions.clear()
    await Promise.all(sessions.map(async session => { await session.close() }))
  }

  private async announce (): Promise<void> {
    const pubsub = (this.libp2p?.services as { pubsub?: PubSub } | undefined)?.pubsub
    if (pubsub === undefined || this.engine === undefined) return
    this.lastAnnounce = Date.now()
    // where participants dial us: our relayed and WebRTC addresses (a browser has no public one)
    const addrs = (this.libp2p?.getMultiaddrs() ?? []).map(ma => ma.toString()).filter(a => a.length <= MAX_ANNOUNCED_ADDR_CHARS).slice(0, MAX_ANNOUNCED_ADDRS)
    const body = { v: 1, load: this.engine.load, maxStreams: this.init.media().maxStreams, rooms: this.engine.rooms, addrs }
    // no subscriber yet (no relay connected) is not an error: the next announcement goes out
    await pubsub.publish(FORWARDERS_TOPIC, new TextEncoder().encode(JSON.stringify(body))).catch((err: unknown) => { this.log?.('announce failed: %e', err) })
  }

  /** An inbound stream: `attach` from a participant's node or `cascade` from another forwarder. */
  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const remotePeer = connection.remotePeer.toString()
    const session = new ForwardSession(stream, remotePeer)
    let first: ForwardMessage
    try {
      first = await session.read(AbortSignal.timeout(FIRST_MESSAGE_TIMEOUT_MS))
    } catch (err) {
      await session.fail(err instanceof PeerloomError ? err : new InvalidParamsError(`no attach or cascade message: ${String(err)}`))
      return
    }
    try {
      const engine = this.engine
      if (engine === undefined) throw new UnsupportedMethodError('this node does not forward calls now')
      if (first.type !== 'attach' && first.type !== 'cascade') throw new InvalidParamsError(`a forward stream opens with attach or cascade, not ${first.type}`)
      if ([...this.sessions.values()].filter(s => s.remotePeer === remotePeer).length >= MAX_STREAMS_PER_PEER) {
        throw new PeerloomError(ErrorCode.RATE_LIMITED, `at most ${MAX_STREAMS_PER_PEER} forward streams per peer`)
      }
      const legId = `${first.roomId}/${remotePeer}`
      if (first.type === 'cascade' && !engine.stats().legs.some(leg => leg.roomId === first.roomId && leg.kind === 'participant')) {
        throw new CallNotFoundError(`no participant of room ${first.roomId} is attached here`)
      }
      // a participant attaching again (a new page, a failover back) replaces its old leg
      this.closeLeg(legId)
      engine.attach(legId, { roomId: first.roomId, peerId: remotePeer, kind: first.type === 'attach' ? 'participant' : 'cascade', polite: false })
      session.legId = legId
      this.sessions.set(legId, session)
      session.send({ type: 'attached' })
      if (first.type === 'attach') this.cascadeTo(first.roomId, first.forwarders ?? [])
    } catch (err) {
      await session.fail(err)
      return
    }
    await this.run(session)
  }

  /** Reads a leg's messages until its stream ends or misbehaves; then the leg is closed. */
  private async run (session: ForwardSession): Promise<void> {
    const legId = session.legId as string
    try {
      for (;;) {
        const message = await session.read()
        const engine = this.engine
        if (engine === undefined || !engine.has(legId)) break
        if (message.type === 'signal') await engine.signal(legId, message.data)
        else if (message.type === 'tracks') engine.tracks(legId, message.mids)
        else if (message.type === 'detach') break
        else throw new InvalidParamsError(`unexpected ${message.type} on an attached forward stream`)
      }
      await session.close()
    } catch (err) {
      // the stream ended (the peer went away) or sent something bad: either way this leg is over
      if (err instanceof PeerloomError) await session.fail(err)
      else session.abort()
    } finally {
      if (this.sessions.get(legId) === session) {
        this.sessions.delete(legId)
        this.engine?.detach(legId)
      }
    }
  }

  private closeLeg (legId: string): void {
    const old = this.sessions.get(legId)
    if (old === undefined) return
    this.sessions.delete(legId)
    this.engine?.detach(legId)
    void old.close()
  }

  /** Opens cascade legs to the room's other forwarders whose peer id is higher than ours (CALLS.md: the lower one opens). */
  private cascadeTo (roomId: string, forwarders: string[]): void {
    const self = this.libp2p?.peerId.toString()
    if (self === undefined) return
    for (const peer of new Set(forwarders)) {
      const legId = `${roomId}/${peer}`
      if (peer <= self || this.sessions.has(legId) || this.opening.has(legId)) continue
      this.opening.add(legId)
      this.openCascade(roomId, peer, legId)
        .catch((err: unknown) => { this.log?.('cascade to %s failed: %e', peer, err) })
        .finally(() => { this.opening.delete(legId) })
    }
  }

  private async openCascade (roomId: string, peer: string, legId: string): Promise<void> {
    const libp2p = this.libp2p
    if (libp2p === undefined) return
    const signal = AbortSignal.timeout(CASCADE_OPEN_TIMEOUT_MS)
    const stream = await libp2p.dialProtocol(peerIdFromString(peer), FORWARD_PROTOCOL, { signal, runOnLimitedConnection: true })
    const session = new ForwardSession(stream, peer)
    session.send({ type: 'cascade', roomId })
    const answer = await session.read(signal).catch(async (err: unknown) => { session.abort(); throw err })
    if (answer.type !== 'attached') {
      await session.close()
      throw answer.type === 'error' ? new PeerloomError(ErrorCode.INVALID_PARAMS, `cascade refused by ${peer}: ${answer.message} (${answer.code})`) : new InvalidParamsError(`cascade answered with ${answer.type}`)
    }
    const engine = this.engine
    if (engine === undefined || this.sessions.has(legId)) { await session.close(); return }
    try {
      // sessions first: the engine's offer goes out through it as soon as it is made
      this.sessions.set(legId, session)
      session.legId = legId
      engine.attach(legId, { roomId, peerId: peer, kind: 'cascade', polite: true })
    } catch (err) {
      this.sessions.delete(legId)
      await session.fail(err)
      return
    }
    await this.run(session)
  }

}
