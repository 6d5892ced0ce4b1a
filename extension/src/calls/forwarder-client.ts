/**
 * A participant's side of forwarders (docs/CALLS.md, Forwarders): it hears the donors'
 * announcements on the forwarders topic and, for each call in a room above
 * MESH_MAX_PARTICIPANTS, attaches to one over FORWARD_PROTOCOL and carries the page's leg's
 * signalling (`RoomCall.useForwarder`). Members converge on one forwarder: a member takes the
 * one most members already name in `hello.forwarder`; when none is named, the room's leader
 * (the lowest peer id) picks by `rtt + 50 × load/maxStreams + reputation penalty` and the
 * others wait FORWARDER_LEADER_WAIT_MS for its presence before picking the same way (different
 * picks are joined by the forwarders' cascade, and the minority moves to the majority's).
 * When the stream ends, the forwarder's announcements stop, the page reports its connection
 * failed, or the relayed connection kept beside a direct leg closes and the forwarder does not
 * answer a ping, the call goes back to mesh at once (no state change for the page) and another
 * forwarder is attached on the next pass. Failures are kept per forwarder in IndexedDB.
 * Bytes the page received from a forwarder are receipted like content bytes (`trackReceipts`,
 * the rewards path), with `contentId = roomId`.
 *
 * @example
 * ```ts
 * const client = new ForwarderClient({ reputation: new ForwarderReputation(db), trackReceipts: (s, c) => rewards.track(s, c) })
 * const calls = new CallService({ db, iceServers, forwarders: client })
 * ```
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, Libp2p, Logger, PeerId, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { DisconnectedError, ErrorCode, FORWARDERS_TOPIC, FORWARD_PROTOCOL, InvalidParamsError, NotFoundError, PeerloomError, errorFromWire } from '@peerloom/shared'
import type { CallEvent, ParticipantInfo, SignalData } from '@peerloom/shared/calls/api'
import { z } from 'zod'
import type { CallsDb, ForwarderRecord } from './calls-db.ts'
import {
  FORWARDER_ATTACH_TIMEOUT_MS, FORWARDER_CHECK_TIMEOUT_MS, FORWARDER_DIRECT_DIAL_MS, FORWARDER_FAILED_GRACE_MS, FORWARDER_FAILURE_PENALTY, FORWARDER_LEADER_WAIT_MS, FORWARDER_PENALTY_HALF_LIFE_MS,
  FORWARDER_PING_TIMEOUT_MS, FORWARDER_PROBES, FORWARDER_RETRY_MS, FORWARDER_STALE_MS, FORWARDER_SWITCH_AFTER_MS, MESH_MAX_PARTICIPANTS, MESH_RETURN_PARTICIPANTS
} from './constants.ts'
import { ForwardStream } from './forwarder/forward-stream.ts'
import { signalDataSchema } from './forwarder/messages.ts'
import type { ForwarderLink } from './room-call.ts'

/** How often each call's topology is looked at again. @default 1000 */
const EVALUATE_INTERVAL_MS = 1000
/** Load weight in the score (CALLS.md): a full forwarder counts as 50 ms slower. */
const LOAD_WEIGHT_MS = 50

/** An error's message with, for libp2p's "All multiaddr dials failed", each address's own reason. */
function describe (err: unknown): string {
  const message = (err as Error)?.message ?? String(err)
  if (!(err instanceof AggregateError) || err.errors.length === 0) return message
  return `${message}: ${err.errors.map(e => (e as Error)?.message ?? String(e)).join('; ')}`
}

/** A forwarder's announcement as read (CALLS.md, Forwarders); unknown fields are a newer version's. */
const announcementSchema = z.object({
  v: z.literal(1),
  load: z.number().int().min(0).max(0xffffffff),
  maxStreams: z.number().int().min(0).max(0xffffffff),
  rooms: z.number().int().min(0).max(0xffffffff),
  addrs: z.array(z.string().max(512)).max(8).optional()
})

export interface Announcement {
  peerId: string
  load: number
  maxStreams: number
  rooms: number
  /** Where it can be dialled (its relayed and WebRTC addresses), each ending in its own peer id. */
  addrs: Multiaddr[]
  heardAt: number
}

/** What the client needs of a call (RoomCall has it all). */
export interface ForwardedCall {
  readonly id: string
  readonly roomId: string
  readonly self: string
  readonly isEnded: boolean
  participants: () => ParticipantInfo[]
  useForwarder: (link: ForwarderLink | undefined) => void
  emit: (event: CallEvent) => void
}

/** The receipts path for content bytes (Rewards.track): follows growing per-peer byte counts. */
export type TrackReceipts = (stats: { perPeer: Record<string, number> }, contentId: string) => { stop: () => void }

/** Failures per forwarder peer id, kept in the calls database (`forwarders` store). */
export class ForwarderReputation {
  private readonly db?: CallsDb
  private readonly records = new Map<string, ForwarderRecord>()
  private loaded?: Promise<void>

  /** Without `db` it is kept in memory only (tests). */
  constructor (db?: CallsDb) {
    this.db = db
  }

  async load (): Promise<void> {
    this.loaded ??= (async () => {
      for (const record of await this.db?.getAll('forwarders') ?? []) this.records.set(record.peerId, record)
    })()
    await this.loaded
  }

  /** The score penalty (ms of RTT) of `peerId`'s failures, halving every FORWARDER_PENALTY_HALF_LIFE_MS. */
  penalty (peerId: string, now = Date.now()): number {
    const record = this.records.get(peerId)
    if (record === undefined) return 0
    return FORWARDER_FAILURE_PENALTY * record.failures * 0.5 ** (Math.max(0, now - record.lastFailure) / FORWARDER_PENALTY_HALF_LIFE_MS)
  }

  failures (peerId: string): number {
    return this.records.get(peerId)?.failures ?? 0
  }

  async failure (peerId: string, now = Date.now()): Promise<void> {
    const record: ForwarderRecord = { peerId, failures: (this.records.get(peerId)?.failures ?? 0) + 1, lastFailure: now }
    this.records.set(peerId, record)
    await this.db?.put('forwarders', record)
  }
}

/** One FORWARD_PROTOCOL stream to a forwarder. */
class Leg extends ForwardStream {
  readonly forwarder: string
  /** On a direct (WebRTC) connection, whose loss a crashed forwarder does not report for many seconds. */
  readonly direct: boolean

  constructor (forwarder: string, stream: Stream, direct: boolean) {
    super(stream)
    this.forwarder = forwarder
    this.direct = direct
  }

  /** `detach`, then closes the stream. */
  override async close (): Promise<void> {
    if (this.closed) return
    this.send({ type: 'detach' })
    await super.close()
  }
}

interface Managed {
  call: ForwardedCall
  name: string
  leg?: Leg
  attachedAt: number
  attaching: boolean
  /** When the room went over the mesh limit (while in mesh). */
  overSince?: number
  /** Forwarders this call does not pick again before the time given. */
  excluded: Map<string, number>
  /** Bytes the page received per forwarder (cumulative, as it reports them): what receipts cover. */
  bytes: { perPeer: Record<string, number> }
  receipts?: { stop: () => void }
  released: boolean
  /** Why the last attach or leg failed (diagnostics). */
  lastError?: string
}

export interface ForwarderClientInit {
  reputation: ForwarderReputation
  trackReceipts?: TrackReceipts
  onError?: (err: unknown) => void
  /** @default MESH_MAX_PARTICIPANTS */
  meshMax?: number
  /** @default MESH_RETURN_PARTICIPANTS */
  meshReturn?: number
  /** @default FORWARDER_LEADER_WAIT_MS */
  leaderWaitMs?: number
  /** @default EVALUATE_INTERVAL_MS */
  intervalMs?: number
  /** @default FORWARDER_FAILED_GRACE_MS */
  failedGraceMs?: number
  now?: () => number
}

interface PubSub {
  subscribe: (topic: string) => void
  unsubscribe: (topic: string) => void
  addEventListener: (type: 'message', listener: (event: CustomEvent<{ type: string, from?: PeerId, topic: string, data: Uint8Array }>) => void) => void
  removeEventListener: (type: 'message', listener: (event: CustomEvent<{ type: string, from?: PeerId, topic: string, data: Uint8Array }>) => void) => void
}

interface Ping { ping: (peer: PeerId, options: { signal: AbortSignal }) => Promise<number> }

export class ForwarderClient {
  private readonly init: ForwarderClientInit
  private libp2p?: Libp2p
  private pubsub?: PubSub
  private log?: Logger
  private timer?: ReturnType<typeof setInterval>
  private readonly announcements = new Map<string, Announcement>()
  private readonly calls = new Map<string, Managed>()
  /** A relayed connection closing is how a crashed forwarder shows first: its relay saw its connection drop. */
  private readonly onConnectionClose = (event: CustomEvent<Connection>): void => {
    const connection = event.detail
    if (connection.limits === undefined) return
    const peerId = connection.remotePeer.toString()
    for (const managed of this.calls.values()) {
      const leg = managed.leg
      if (leg?.forwarder === peerId && leg.direct) void this.check(managed, leg)
    }
  }

  private readonly onMessage = (event: CustomEvent<{ type: string, from?: PeerId, topic: string, data: Uint8Array }>): void => {
    const message = event.detail
    if (message.topic !== FORWARDERS_TOPIC || message.type !== 'signed' || message.from === undefined) return
    this.heard(message.from.toString(), message.data)
  }

  constructor (init: ForwarderClientInit) {
    this.init = init
  }

  private now (): number {
    return this.init.now?.() ?? Date.now()
  }

  async attach (libp2p: Libp2p): Promise<void> {
    const pubsub = (libp2p.services as { pubsub?: PubSub }).pubsub
    if (pubsub === undefined) throw new Error('forwarders need the node\'s gossipsub service (`pubsub`)')
    this.libp2p = libp2p
    this.pubsub = pubsub
    this.log = libp2p.logger.forComponent('peerloom:forwarder-client')
    await this.init.reputation.load().catch((err: unknown) => { this.init.onError?.(err) })
    pubsub.addEventListener('message', this.onMessage)
    pubsub.subscribe(FORWARDERS_TOPIC)
    libp2p.addEventListener('connection:close', this.onConnectionClose)
    this.timer = setInterval(() => { this.evaluateAll() }, this.init.intervalMs ?? EVALUATE_INTERVAL_MS)
  }

  /** The network is going down: every forwarded call goes back to mesh (no forwarder is blamed). */
  async detach (): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    for (const managed of this.calls.values()) this.toMesh(managed)
    try {
      this.pubsub?.unsubscribe(FORWARDERS_TOPIC)
    } catch {
      // the node is stopping: its subscriptions go with it
    }
    this.pubsub?.removeEventListener('message', this.onMessage)
    this.libp2p?.removeEventListener('connection:close', this.onConnectionClose)
    this.pubsub = undefined
    this.libp2p = undefined
    this.announcements.clear()
  }

  /** Forwarders heard recently (tests and diagnostics). */
  heardForwarders (): Announcement[] {
    return [...this.announcements.values()].filter(a => this.isLive(a.peerId))
  }

  /** Follows a joined call: it goes forwarded while its room is above the mesh limit. */
  manage (call: ForwardedCall, name: string): void {
    if (this.calls.has(call.id)) return
    this.calls.set(call.id, { call, name, attachedAt: 0, attaching: false, excluded: new Map(), bytes: { perPeer: {} }, released: false })
  }

  /** The call ended: its leg is detached and its last bytes receipted. */
  release (call: ForwardedCall): void {
    const managed = this.calls.get(call.id)
    if (managed === undefined) return
    this.calls.delete(call.id)
    managed.released = true
    managed.leg?.close()
    managed.leg = undefined
    managed.receipts?.stop()
  }

  /** What the client knows and does (diagnostics: the node document's `forwarderClient` request). */
  status (): { heard: Array<{ peerId: string, load: number, maxStreams: number, addrs: number, ageMs: number }>, calls: Array<{ callId: string, members: number, forwarder: string | null, excluded: string[], lastError?: string }> } {
    const now = this.now()
    return {
      heard: [...this.announcements.values()].map(a => ({ peerId: a.peerId, load: a.load, maxStreams: a.maxStreams, addrs: a.addrs.length, ageMs: now - a.heardAt })),
      calls: [...this.calls.values()].map(m => ({
        callId: m.call.id,
        members: m.call.participants().length + 1,
        forwarder: m.leg?.forwarder ?? null,
        excluded: [...m.excluded].filter(([, until]) => until > now).map(([peerId]) => peerId),
        ...(m.lastError === undefined ? {} : { lastError: m.lastError })
      }))
    }
  }

  /** The forwarder a call uses now, if any. */
  forwarderOf (callId: string): string | undefined {
    return this.calls.get(callId)?.leg?.forwarder
  }

  private heard (peerId: string, data: Uint8Array): void {
    if (peerId === this.libp2p?.peerId.toString()) return
    let parsed
    try {
      parsed = announcementSchema.safeParse(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data)))
    } catch {
      return
    }
    if (!parsed.success) return
    const addrs: Multiaddr[] = []
    for (const text of parsed.data.addrs ?? []) {
      try {
        const addr = multiaddr(text)
        // an address must lead to the announcer itself
        if (addr.toString().endsWith(`/p2p/${peerId}`)) addrs.push(addr)
      } catch {
        // not a multiaddr: skipped
      }
    }
    this.announcements.set(peerId, { peerId, load: parsed.data.load, maxStreams: parsed.data.maxStreams, rooms: parsed.data.rooms, addrs, heardAt: this.now() })
  }

  private isLive (peerId: string): boolean {
    const announcement = this.announcements.get(peerId)
    return announcement !== undefined && this.now() - announcement.heardAt <= FORWARDER_STALE_MS
  }

  private usable (managed: Managed, peerId: string): boolean {
    return this.isLive(peerId) && (managed.excluded.get(peerId) ?? 0) <= this.now()
  }

  /** Passes made over the calls so far (tests wait on it). */
  passes = 0

  private evaluateAll (): void {
    this.passes++
    for (const managed of [...this.calls.values()]) {
      this.evaluate(managed).catch((err: unknown) => { this.init.onError?.(err) })
    }
  }

  /** One look at a call: go forwarded, fail over, follow the room's majority, or go back to mesh. */
  private async evaluate (managed: Managed): Promise<void> {
    const { call } = managed
    if (call.isEnded) {
      this.release(call)
      return
    }
    if (managed.attaching || this.libp2p === undefined) return
    const now = this.now()
    const members = call.participants()
    const size = members.length + 1
    const meshMax = this.init.meshMax ?? MESH_MAX_PARTICIPANTS
    const leg = managed.leg
    if (leg !== undefined) {
      if (size <= (this.init.meshReturn ?? MESH_RETURN_PARTICIPANTS)) {
        this.log?.('call %s: %d in the room, back to mesh', call.id, size)
        this.toMesh(managed)
        return
      }
      if (!this.isLive(leg.forwarder)) {
        await this.failover(managed, leg, 'its announcements stopped')
        return
      }
      const majority = this.roomChoice(managed, members)
      if (majority !== undefined && majority !== leg.forwarder && now - managed.attachedAt >= FORWARDER_SWITCH_AFTER_MS) {
        this.log?.('call %s: most of the room is on %s, moving there from %s', call.id, majority, leg.forwarder)
        await this.connect(managed, majority, members)
      }
      return
    }
    if (size <= meshMax) {
      managed.overSince = undefined
      return
    }
    managed.overSince ??= now
    let choice = this.roomChoice(managed, members)
    if (choice === undefined) {
      const leader = members.every(m => m.peerId > call.self)
      if (!leader && now - managed.overSince < (this.init.leaderWaitMs ?? FORWARDER_LEADER_WAIT_MS)) return
      managed.attaching = true
      try {
        choice = await this.best(managed)
      } finally {
        managed.attaching = false
      }
    }
    if (choice !== undefined) await this.connect(managed, choice, members)
  }

  /** The usable forwarder most members name in presence (with this call's own counted), ties to the lowest peer id. */
  private roomChoice (managed: Managed, members: ParticipantInfo[]): string | undefined {
    const counts = new Map<string, number>()
    const named = [...members.map(m => m.forwarder), managed.leg?.forwarder]
    for (const peerId of named) {
      if (typeof peerId !== 'string' || !this.usable(managed, peerId)) continue
      counts.set(peerId, (counts.get(peerId) ?? 0) + 1)
    }
    let best: string | undefined
    for (const [peerId, count] of counts) {
      const top = best === undefined ? 0 : counts.get(best)!
      if (count > top || (count === top && peerId < best!)) best = peerId
    }
    return best
  }

  /** The best usable forwarder by score: RTT (ping) + load + reputation; the least loaded FORWARDER_PROBES are probed. */
  private async best (managed: Managed): Promise<string | undefined> {
    const candidates = [...this.announcements.values()]
      .filter(a => this.usable(managed, a.peerId) && a.addrs.length > 0 && a.load < a.maxStreams)
      .sort((x, y) => x.load / x.maxStreams - y.load / y.maxStreams || (x.peerId < y.peerId ? -1 : 1))
      .slice(0, FORWARDER_PROBES)
    if (candidates.length === 0) return undefined
    const now = this.now()
    const scored = await Promise.all(candidates.map(async a => {
      const rtt = await this.rtt(a)
      return { peerId: a.peerId, score: rtt + LOAD_WEIGHT_MS * a.load / a.maxStreams + this.init.reputation.penalty(a.peerId, now) }
    }))
    scored.sort((x, y) => x.score - y.score || (x.peerId < y.peerId ? -1 : 1))
    this.log?.('call %s: forwarder scores %o', managed.call.id, scored)
    return scored[0]?.peerId
  }

  /**
   * The candidate's RTT by libp2p ping; one it cannot reach counts as FORWARDER_PING_TIMEOUT_MS.
   * The connection gets an attach's whole budget, not the ping's: it is the one the attach then
   * uses, and a WebRTC dial through a relay can take seconds on a busy machine.
   */
  private async rtt (announcement: Announcement): Promise<number> {
    try {
      const connection = await this.dial(announcement.peerId, AbortSignal.timeout(FORWARDER_ATTACH_TIMEOUT_MS))
      const ping = this.pingService()
      if (ping === undefined) return 0
      return await ping.ping(connection.remotePeer, { signal: AbortSignal.timeout(FORWARDER_PING_TIMEOUT_MS) })
    } catch (err) {
      this.log?.('no ping from %s: %s', announcement.peerId, describe(err))
      return FORWARDER_PING_TIMEOUT_MS
    }
  }

  /** The node's libp2p ping service (absent in a node built without it). */
  private pingService (): Ping | undefined {
    return (this.libp2p?.services as { ping?: Ping } | undefined)?.ping
  }

  /**
   * A connection to the forwarder: direct if it has or can get one (WebRTC), else relayed. The
   * relayed connection comes first, in a dial of its own: the WebRTC upgrade is signalled over
   * it, and within one dial libp2p tries the addresses one after another, each for its whole
   * per-address time, so the relayed ones came only after both WebRTC ones had timed out.
   */
  private async dial (peerId: string, signal: AbortSignal): Promise<Connection> {
    const libp2p = this.libp2p
    if (libp2p === undefined) throw new DisconnectedError('the network is restarting')
    const open = libp2p.getConnections(peerIdFromString(peerId)).filter(c => c.status === 'open')
    const direct = open.find(c => c.limits === undefined)
    if (direct !== undefined) return direct
    const addrs = this.announcements.get(peerId)?.addrs ?? []
    if (addrs.length === 0) throw new NotFoundError(`forwarder ${peerId} announced no address`)
    const webrtc = addrs.filter(a => a.toString().includes('/webrtc'))
    const relayed = addrs.filter(a => !webrtc.includes(a))
    const limited = open[0] ?? (relayed.length > 0 ? await libp2p.dial(relayed, { signal }) : undefined)
    if (limited !== undefined && (limited.limits === undefined || webrtc.length === 0)) return limited
    if (limited === undefined) return await libp2p.dial(webrtc, { signal })
    try {
      const connection = await libp2p.dial(webrtc, { signal: AbortSignal.any([signal, AbortSignal.timeout(FORWARDER_DIRECT_DIAL_MS)]) })
      if (connection.limits === undefined) return connection
    } catch (err) {
      this.log?.('no direct connection to %s: %s', peerId, describe(err))
    }
    return limited
  }

  /** Attaches the call to `forwarder`; on success its page is moved there (and off the previous one). */
  private async connect (managed: Managed, forwarder: string, members: ParticipantInfo[]): Promise<void> {
    if (managed.attaching) return
    managed.attaching = true
    const signal = AbortSignal.timeout(FORWARDER_ATTACH_TIMEOUT_MS)
    let leg: Leg | undefined
    try {
      const connection = await this.dial(forwarder, signal)
      const stream = await connection.newStream(FORWARD_PROTOCOL, { signal, runOnLimitedConnection: true })
      leg = new Leg(forwarder, stream, connection.limits === undefined)
      const others = [...new Set(members.map(m => m.forwarder).filter((f): f is string => typeof f === 'string' && f !== forwarder && this.isLive(f)))]
      leg.send({ type: 'attach', roomId: managed.call.roomId, name: managed.name, ...(others.length === 0 ? {} : { forwarders: others.slice(0, 32) }) })
      const answer = await leg.read(signal)
      if (answer.type === 'error') throw errorFromWire({ code: answer.code, message: `forwarder ${forwarder} refused: ${answer.message}` })
      if (answer.type !== 'attached') throw new InvalidParamsError(`forwarder ${forwarder} answered attach with ${answer.type}`)
      if (managed.released || managed.call.isEnded) {
        leg.close()
        return
      }
      const previous = managed.leg
      managed.leg = leg
      managed.attachedAt = this.now()
      managed.overSince = undefined
      this.log?.('call %s attached to forwarder %s', managed.call.id, forwarder)
      managed.call.useForwarder(this.link(managed, leg))
      previous?.close()
      void this.run(managed, leg)
      if (leg.direct) void this.watch(leg)
    } catch (err) {
      leg?.abort()
      managed.lastError = `attach to ${forwarder}: ${describe(err)}`
      this.log?.('call %s: %s', managed.call.id, managed.lastError)
      managed.excluded.set(forwarder, this.now() + FORWARDER_RETRY_MS)
      // a full forwarder is not a faulty one
      if (!(err instanceof PeerloomError && err.code === ErrorCode.CALL_LIMIT)) await this.init.reputation.failure(forwarder, this.now()).catch((e: unknown) => { this.init.onError?.(e) })
    } finally {
      managed.attaching = false
    }
  }

  /**
   * A relayed connection to the forwarder of a direct leg closed: either the forwarder's browser
   * is gone (its relay noticed at once) or only the relayed connection is (its relay went away,
   * or the relay's limit on relayed connections ran out). A ping over the direct connection
   * tells which, and a new relayed connection tells sooner: when every relay it announced says
   * it has no connection to it, the call fails over at once; otherwise, no answer to the ping
   * within FORWARDER_CHECK_TIMEOUT_MS does. Either is many seconds before its announcements stop
   * or the page's connection fails.
   */
  private async check (managed: Managed, leg: Leg): Promise<void> {
    const ping = this.pingService()
    if (ping === undefined) return
    const signal = AbortSignal.timeout(FORWARDER_CHECK_TIMEOUT_MS)
    const reason = await new Promise<string | null>(resolve => {
      ping.ping(peerIdFromString(leg.forwarder), { signal }).then(() => { resolve(null) }, (err: Error) => { resolve(`its relayed connection closed and it did not answer a ping (${err.message})`) })
      void this.watch(leg, signal).then(outcome => { if (outcome === 'gone') resolve('its relayed connection closed and none of its relays has a connection to it') })
    })
    if (reason !== null) {
      await this.failover(managed, leg, reason)
      return
    }
    if (managed.leg === leg) await this.watch(leg)
  }

  /**
   * Keeps a relayed connection open beside a direct leg, for `check` to hear of the forwarder's
   * end. 'gone' when every relay the forwarder announced answered that it has no connection to it.
   */
  private async watch (leg: Leg, signal = AbortSignal.timeout(FORWARDER_ATTACH_TIMEOUT_MS)): Promise<'open' | 'gone' | 'failed'> {
    const libp2p = this.libp2p
    if (libp2p === undefined) return 'failed'
    if (libp2p.getConnections(peerIdFromString(leg.forwarder)).some(c => c.status === 'open' && c.limits !== undefined)) return 'open'
    const relayed = (this.announcements.get(leg.forwarder)?.addrs ?? []).filter(a => a.toString().includes('/p2p-circuit/p2p/'))
    if (relayed.length === 0) return 'failed'
    try {
      // `force`: libp2p would otherwise hand back the direct connection
      await libp2p.dial(relayed, { force: true, signal })
      return 'open'
    } catch (err) {
      this.log?.('no relayed connection to %s beside the direct one: %s', leg.forwarder, describe(err))
      // a circuit relay v2 refusal names the status: NO_RESERVATION when the relay has no connection to it
      const errors = err instanceof AggregateError ? err.errors : [err]
      return errors.length > 0 && errors.every(e => /\bNO_RESERVATION\b/.test((e as Error)?.message ?? '')) ? 'gone' : 'failed'
    }
  }

  /** What the call's page reaches the forwarder through. */
  private link (managed: Managed, leg: Leg): ForwarderLink {
    return {
      forwarder: leg.forwarder,
      signal: async (data: SignalData) => {
        const parsed = signalDataSchema.safeParse(data)
        if (!parsed.success) throw new InvalidParamsError(`malformed forwarder signal: ${parsed.error.issues[0]?.message ?? 'invalid'}`)
        if (managed.leg !== leg) throw new InvalidParamsError(`this call is no longer attached to ${leg.forwarder}`)
        leg.send({ type: 'signal', data: parsed.data })
      },
      received: totalBytes => { this.count(managed, leg.forwarder, totalBytes) },
      failed: () => {
        if (managed.leg !== leg || this.now() - managed.attachedAt < (this.init.failedGraceMs ?? FORWARDER_FAILED_GRACE_MS)) return
        void this.failover(managed, leg, 'the page\'s connection to it failed')
      }
    }
  }

  /** The forwarder's messages to the page, until the stream ends; then the call fails over. */
  private async run (managed: Managed, leg: Leg): Promise<void> {
    const forwarder = leg.forwarder
    let reason = 'the stream ended'
    let refused = false
    try {
      for (;;) {
        const message = await leg.read()
        if (managed.leg !== leg) return
        if (message.type === 'signal') managed.call.emit({ type: 'forwarder-signal', forwarder, data: message.data as SignalData })
        else if (message.type === 'tracks') managed.call.emit({ type: 'tracks', forwarder, mids: message.mids })
        else {
          reason = message.type === 'error' ? `error ${message.code}: ${message.message}` : `it sent ${message.type}`
          refused = true
          break
        }
      }
    } catch (err) {
      reason = (err as Error).message
    }
    if (managed.leg !== leg || leg.closed) return
    // a relayed leg also ends when the relay's limit on relayed connections runs out: while the
    // forwarder still announces itself the next pass attaches again, and a dead one fails that attach
    const blame = refused || leg.direct || !this.isLive(forwarder)
    await this.failover(managed, leg, reason, blame)
  }

  /**
   * The call is back in mesh until the next pass finds a forwarder. A forwarder that failed it
   * (`blame`) is excluded for a while and its failure recorded.
   */
  private async failover (managed: Managed, leg: Leg, reason: string, blame = true): Promise<void> {
    if (managed.leg !== leg) return
    this.log?.('call %s: forwarder %s %s (%s); back to mesh', managed.call.id, leg.forwarder, blame ? 'failed' : 'lost its relayed leg', reason)
    managed.lastError = `${leg.forwarder}: ${reason}`
    if (blame) managed.excluded.set(leg.forwarder, this.now() + FORWARDER_RETRY_MS)
    this.toMesh(managed)
    // no leader wait: the room was forwarded already
    managed.overSince = this.now() - (this.init.leaderWaitMs ?? FORWARDER_LEADER_WAIT_MS)
    if (blame) await this.init.reputation.failure(leg.forwarder, this.now()).catch((err: unknown) => { this.init.onError?.(err) })
  }

  private toMesh (managed: Managed): void {
    const leg = managed.leg
    if (leg === undefined) return
    managed.leg = undefined
    leg.close()
    if (!managed.call.isEnded) managed.call.useForwarder(undefined)
  }

  /** The page's cumulative bytes from `forwarder`: receipts follow them (contentId = roomId). */
  private count (managed: Managed, forwarder: string, totalBytes: number): void {
    if (!Number.isFinite(totalBytes) || totalBytes <= (managed.bytes.perPeer[forwarder] ?? 0)) return
    managed.bytes.perPeer[forwarder] = totalBytes
    if (managed.receipts === undefined && this.init.trackReceipts !== undefined && !managed.released) {
      try {
        managed.receipts = this.init.trackReceipts(managed.bytes, managed.call.roomId)
      } catch (err) {
        this.init.onError?.(err)
      }
    }
  }

  /** Bytes counted for receipts per forwarder, for a call (tests). */
  receiptBytes (callId: string): Record<string, number> {
    return { ...this.calls.get(callId)?.bytes.perPeer }
  }
}
