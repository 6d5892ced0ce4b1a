/**
 * `peerloom.call.join(room, …)` in the page (docs/CALLS.md): the page holds the call's
 * RTCPeerConnections, since media tracks cannot leave it, and the node carries the rest —
 * membership, signalling, media keys and chat sealing. In a mesh there is one connection per
 * other participant (the one that joined first offers); when the node picks a forwarder there
 * is one to it, and the mesh connections close once it carries media. Every frame sent or received
 * goes through the call's E2EE worker.
 */
import { ErrorCode, PeerloomError } from '@peerloom/shared/errors'
import { joinedBefore } from '@peerloom/shared/calls/api'
import type {
  CallEvent, CallJoinResult, CallState, CallTopology, ChatMessage, MediaFlags, MediaKey, ParticipantInfo, SignalData
} from '@peerloom/shared/calls/api'
import type { Call, CallEventDetail, CallEventType, CallJoinOptions, Participant } from '@peerloom/shared/provider'
import { CallE2ee } from './call-e2ee.ts'
import { CallLink } from './call-link.ts'

/** How often the page reports the bytes it received from forwarders (receipts, failover). @default 5000 */
export const CALL_STATS_INTERVAL_MS = 5000
/** Wait before the offering side re-dials a failed mesh connection. @default 1000 */
export const MESH_REDIAL_MS = 1000
/**
 * How long a mesh connection that still carries media outlives its member's presence timeout:
 * the node may have missed its hellos (a starved document on a loaded machine) while the pages
 * still see each other; if the member is heard again meanwhile, the connection goes on. @default 30000
 */
export const MESH_LINGER_MS = 30_000
/** ICE candidates kept per member for a connection whose offer has not arrived yet. @default 64 */
const MAX_EARLY_CANDIDATES = 64
/** Longest chat message (docs/CALLS.md, Chat). @default 4000 */
export const MAX_CHAT_TEXT = 4000
/** Longest display name. @default 64 */
export const MAX_NAME_LENGTH = 64

/** What a call needs of the page's connection to the node. */
export interface CallNode {
  call: (method: string, params: unknown, options?: { events?: CallEventSink }) => Promise<unknown>
}

/** Receives the node's pushes for one join request. */
export interface CallEventSink {
  event: (event: unknown) => void
  /** The connection to the node went away. */
  lost: () => void
  /** Set by the connection: stops the pushes. */
  close?: () => void
}

type Kind = 'audio' | 'video'
const KINDS: readonly Kind[] = ['audio', 'video']

interface Member {
  participant: Participant & ParticipantInfo & { streams: MediaStream[] }
  stream: MediaStream
}

interface MeshPeer {
  link: CallLink
  sid: string
  transceivers: RTCRtpTransceiver[]
}

interface ForwarderLeg {
  forwarder: string
  link: CallLink
  upstream: RTCRtpTransceiver[]
  mids: Map<string, string>
  /** Tracks that arrived before `tracks` named their mid. */
  unnamed: Map<string, MediaStreamTrack>
  carriesMedia: boolean
}

function invalid (message: string): PeerloomError {
  return new PeerloomError(ErrorCode.INVALID_PARAMS, message)
}

function randomSid (): string {
  return [...crypto.getRandomValues(new Uint8Array(8))].map(b => b.toString(16).padStart(2, '0')).join('')
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null
}

/** Checks the shape of a node push closely enough that a wrong one cannot throw later. */
function asCallEvent (value: unknown): CallEvent | null {
  if (!isObject(value) || typeof value.type !== 'string') return null
  return value as unknown as CallEvent
}

class PeerloomCall extends EventTarget implements Call {
  readonly room: string
  readonly roomId: string
  readonly self: { readonly peerId: string, readonly name: string }
  private readonly node: CallNode
  private readonly callId: string
  private readonly joinedAt: number
  private readonly iceServers: RTCIceServer[]
  private readonly stream: MediaStream
  private readonly local: Record<Kind, MediaStreamTrack | null>
  private readonly camera: MediaStreamTrack | null
  private readonly muted: Record<Kind, boolean> = { audio: false, video: false }
  private readonly e2ee = new CallE2ee()
  private readonly members = new Map<string, Member>()
  private readonly mesh = new Map<string, MeshPeer>()
  private readonly legs = new Map<string, ForwarderLeg>()
  /** Mesh connections kept past their member's timeout (MESH_LINGER_MS), by peer id. */
  private readonly lingering = new Map<string, { timer: ReturnType<typeof setTimeout>, joinedAt: number }>()
  /** ICE candidates that came before their connection's offer, per offering member (gossip does not keep a sender's order). */
  private readonly earlyCandidates = new Map<string, { sid: string, candidates: SignalData[] }>()
  private readonly messageIds = new Set<string>()
  private readonly chat: ChatMessage[]
  private readonly forwarderBytes: Record<string, number> = {}
  private readonly failed = new Set<string>()
  private readonly statsTimer: ReturnType<typeof setInterval>
  private readonly sink: CallEventSink
  private currentState: CallState = 'connecting'
  private currentTopology: CallTopology
  private forwarder: string | null = null

  constructor (node: CallNode, room: string, joined: CallJoinResult, options: CallJoinOptions, sink: CallEventSink) {
    super()
    this.node = node
    this.room = room
    this.roomId = joined.roomId
    this.callId = joined.callId
    this.self = Object.freeze({ peerId: joined.self.peerId, name: joined.self.name })
    this.joinedAt = joined.self.joinedAt
    this.iceServers = joined.iceServers
    this.stream = options.stream
    this.local = { audio: options.stream.getAudioTracks()[0] ?? null, video: options.stream.getVideoTracks()[0] ?? null }
    this.camera = this.local.video
    this.chat = [...joined.history]
    for (const message of this.chat) this.messageIds.add(message.id)
    this.currentTopology = joined.topology
    this.sink = sink
    this.e2ee.ownKey(joined.ownKey)
    for (const info of joined.participants) this.addMember(info, false)
    this.statsTimer = setInterval(() => { void this.reportStats() }, CALL_STATS_INTERVAL_MS)
    this.setState('connected')
    if (this.currentTopology === 'mesh') for (const peerId of this.members.keys()) this.dialIfOfferer(peerId)
  }

  get participants (): ReadonlyMap<string, Participant> {
    return new Map([...this.members].map(([peerId, member]) => [peerId, member.participant]))
  }

  get state (): CallState {
    return this.currentState
  }

  get topology (): CallTopology {
    return this.currentTopology
  }

  get history (): readonly ChatMessage[] {
    return [...this.chat]
  }

  async send (text: string): Promise<ChatMessage> {
    this.assertLive()
    if (typeof text !== 'string' || text.length === 0 || text.length > MAX_CHAT_TEXT) throw invalid(`a chat message is 1–${MAX_CHAT_TEXT} characters`)
    const { sealed, message } = await this.node.call('peerloom_callSeal', { callId: this.callId, text }) as { sealed: string, message: ChatMessage }
    for (const peer of this.mesh.values()) peer.link.sendChat(sealed)
    for (const leg of this.legs.values()) leg.link.sendChat(sealed)
    this.record(message)
    return message
  }

  mute (kind: Kind, muted: boolean): void {
    this.assertLive()
    if (kind !== 'audio' && kind !== 'video') throw invalid('mute(kind): kind is "audio" or "video"')
    this.muted[kind] = muted === true
    const track = this.local[kind]
    if (track !== null) track.enabled = !this.muted[kind]
    this.reportMedia()
  }

  async replaceTrack (kind: Kind, track: MediaStreamTrack | null): Promise<void> {
    this.assertLive()
    if (kind !== 'audio' && kind !== 'video') throw invalid('replaceTrack(kind): kind is "audio" or "video"')
    if (track !== null && (!(track instanceof MediaStreamTrack) || track.kind !== kind)) throw invalid(`replaceTrack: track must be a ${kind} MediaStreamTrack or null`)
    this.local[kind] = track
    if (track !== null) track.enabled = !this.muted[kind]
    const senders = [
      ...[...this.mesh.values()].flatMap(peer => peer.transceivers),
      ...[...this.legs.values()].flatMap(leg => leg.upstream)
    ].filter(t => t.receiver.track.kind === kind && t.currentDirection !== 'stopped').map(t => t.sender)
    await Promise.all(senders.map(async sender => { await sender.replaceTrack(track) }))
    this.reportMedia()
  }

  async leave (): Promise<void> {
    if (this.currentState === 'left' || this.currentState === 'removed') return
    this.teardown('left')
    await this.node.call('peerloom_callLeave', { callId: this.callId }).catch(() => {})
  }

  override addEventListener<K extends CallEventType> (type: K | string, listener: ((event: CustomEvent<CallEventDetail[K]>) => void) | EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void {
    super.addEventListener(type, listener as EventListenerOrEventListenerObject | null, options)
  }

  override removeEventListener<K extends CallEventType> (type: K | string, listener: ((event: CustomEvent<CallEventDetail[K]>) => void) | EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void {
    super.removeEventListener(type, listener as EventListenerOrEventListenerObject | null, options)
  }

  /** A push from the node for this call. */
  handle (raw: unknown): void {
    const event = asCallEvent(raw)
    if (event === null || this.isOver()) return
    switch (event.type) {
      case 'joined':
        if (!this.members.has(event.participant.peerId)) {
          this.addMember(event.participant, true)
          if (!this.resumeLingering(event.participant) && this.currentTopology === 'mesh') this.dialIfOfferer(event.participant.peerId)
        }
        break
      case 'updated': {
        const member = this.members.get(event.participant.peerId)
        if (member === undefined) break
        const rejoined = event.participant.joinedAt !== member.participant.joinedAt
        Object.assign(member.participant, { name: event.participant.name, media: event.participant.media, forwarder: event.participant.forwarder, joinedAt: event.participant.joinedAt })
        // the same browser joined again (a restart before its old presence timed out): its old connection is dead
        if (rejoined && this.currentTopology === 'mesh') {
          this.closeMesh(member.participant.peerId)
          this.dialIfOfferer(member.participant.peerId)
        }
        this.emit('updated', { participant: member.participant })
        break
      }
      case 'left':
        this.removeMember(event.peerId, event.reason)
        break
      case 'signal':
        void this.onMeshSignal(event.from, event.sid, event.data)
        break
      case 'media-key':
        this.e2ee.peerKey(event.peerId, event.key)
        break
      case 'own-key':
        this.e2ee.ownKey(event.key, event.switchAt)
        break
      case 'topology':
        this.onTopology(event.topology, event.forwarder)
        break
      case 'forwarder-signal':
        void this.onForwarderSignal(event.forwarder, event.data)
        break
      case 'tracks':
        this.onTracks(event.forwarder, event.mids)
        break
      case 'message':
        this.record(event.message)
        break
      case 'state':
        if (event.state === 'left' || event.state === 'removed') this.teardown(event.state, event.reason, event.code)
        else this.setState(event.state, event.reason, event.code)
        break
    }
  }

  /** The page lost its connection to the node: the call cannot go on. */
  lost (): void {
    if (!this.isOver()) this.teardown('left', 'the connection to Peerloom was lost', ErrorCode.DISCONNECTED)
  }

  // members

  private addMember (info: ParticipantInfo, announce: boolean): void {
    if (info.peerId === this.self.peerId) return
    const stream = new MediaStream()
    const participant = { ...info, media: { ...info.media }, streams: [stream] }
    this.members.set(info.peerId, { participant, stream })
    if (announce) this.emit('joined', { participant })
  }

  private removeMember (peerId: string, reason: 'bye' | 'timeout' | 'removed'): void {
    const member = this.members.get(peerId)
    if (member === undefined) return
    this.members.delete(peerId)
    this.earlyCandidates.delete(peerId)
    const peer = this.mesh.get(peerId)
    if (reason === 'timeout' && peer !== undefined && peer.link.connectionState === 'connected' && !this.lingering.has(peerId)) {
      // its presence timed out at the node, but its media still arrives: keep the connection a while
      const timer = setTimeout(() => {
        this.lingering.delete(peerId)
        if (!this.members.has(peerId)) this.closeMesh(peerId)
      }, MESH_LINGER_MS)
      this.lingering.set(peerId, { timer, joinedAt: member.participant.joinedAt })
    } else {
      this.closeMesh(peerId)
    }
    this.e2ee.peerLeft(peerId)
    for (const track of member.stream.getTracks()) member.stream.removeTrack(track)
    this.emit('left', { participant: member.participant, reason })
  }

  /** Puts `track` in the participant's stream in place of its previous one of that kind. */
  private attachTrack (peerId: string, track: MediaStreamTrack): void {
    const member = this.members.get(peerId)
    if (member === undefined) return
    for (const old of member.stream.getTracks()) if (old.kind === track.kind && old !== track) member.stream.removeTrack(old)
    if (!member.stream.getTracks().includes(track)) member.stream.addTrack(track)
    this.emit('track', { participant: member.participant, track, streams: member.participant.streams })
  }

  // mesh

  /**
   * Whether this page offers to `peerId` in a mesh: the participant that joined first does, so
   * a joiner's members offer the moment they hear its hello rather than answer it first.
   */
  private offersTo (peerId: string): boolean {
    const member = this.members.get(peerId)
    return member !== undefined && joinedBefore({ peerId: this.self.peerId, joinedAt: this.joinedAt }, member.participant)
  }

  private dialIfOfferer (peerId: string): void {
    if (this.offersTo(peerId) && !this.mesh.has(peerId)) void this.dial(peerId)
  }

  private async dial (peerId: string): Promise<void> {
    const sid = randomSid()
    const peer = this.newMeshPeer(peerId, sid)
    for (const kind of KINDS) {
      const transceiver = peer.link.pc.addTransceiver(this.local[kind] ?? kind, { direction: 'sendrecv', streams: [this.stream] })
      this.e2ee.sender(transceiver.sender, kind)
      this.e2ee.receiver(transceiver.receiver, { peerId })
      peer.transceivers.push(transceiver)
    }
    peer.link.openChat()
    await peer.link.offer().catch(() => { this.meshFailed(peerId, sid) })
  }

  private newMeshPeer (peerId: string, sid: string): MeshPeer {
    this.closeMesh(peerId)
    const peer: MeshPeer = {
      sid,
      transceivers: [],
      link: new CallLink(this.iceServers, {
        signal: data => { void this.node.call('peerloom_callSignal', { callId: this.callId, to: peerId, sid, data }).catch(() => {}) },
        chat: sealed => { void this.openChat(peerId, sealed) },
        track: event => { if (this.carriedByMesh(peerId)) this.attachTrack(peerId, event.track) },
        failed: () => { this.meshFailed(peerId, sid) },
        connected: () => { this.failed.delete(peerId) }
      })
    }
    this.mesh.set(peerId, peer)
    return peer
  }

  private async onMeshSignal (from: string, sid: string, data: SignalData): Promise<void> {
    if (!this.members.has(from) || !isObject(data)) return
    let peer = this.mesh.get(from)
    let early: SignalData[] = []
    if ('sdp' in data && data.sdp?.type === 'offer') {
      // the one that joined first offers; an offer from a later one is out of contract
      if (this.offersTo(from)) return
      if (peer?.sid !== sid) peer = this.answerer(from, sid)
      const kept = this.earlyCandidates.get(from)
      this.earlyCandidates.delete(from)
      if (kept?.sid === sid) early = kept.candidates
    }
    if (peer === undefined || peer.sid !== sid) {
      if ('candidate' in data && !this.offersTo(from)) this.keepEarlyCandidate(from, sid, data)
      return
    }
    const failed = (): void => { this.meshFailed(from, sid) }
    const applied = peer.link.remote(data).catch(failed)
    for (const candidate of early) void peer.link.remote(candidate).catch(failed)
    await applied
  }

  /** Keeps a candidate of a connection whose offer has not come yet (the newest connection's, a bounded number). */
  private keepEarlyCandidate (from: string, sid: string, data: SignalData): void {
    let kept = this.earlyCandidates.get(from)
    if (kept?.sid !== sid) {
      kept = { sid, candidates: [] }
      this.earlyCandidates.set(from, kept)
    }
    if (kept.candidates.length < MAX_EARLY_CANDIDATES) kept.candidates.push(data)
  }

  /** The answering side of a mesh connection: takes the offer's two transceivers and sends on them. */
  private answerer (peerId: string, sid: string): MeshPeer {
    const peer = this.newMeshPeer(peerId, sid)
    peer.link.onOffer = async () => {
      for (const transceiver of peer.link.pc.getTransceivers()) {
        if (peer.transceivers.includes(transceiver)) continue
        const kind: Kind = transceiver.receiver.track.kind === 'audio' ? 'audio' : 'video'
        this.e2ee.receiver(transceiver.receiver, { peerId })
        if (peer.transceivers.some(t => t.receiver.track.kind === kind)) continue
        transceiver.direction = 'sendrecv'
        this.e2ee.sender(transceiver.sender, kind)
        transceiver.sender.setStreams(this.stream)
        await transceiver.sender.replaceTrack(this.local[kind])
        peer.transceivers.push(transceiver)
      }
    }
    return peer
  }

  private meshFailed (peerId: string, sid: string): void {
    const peer = this.mesh.get(peerId)
    if (peer === undefined || peer.sid !== sid) return
    this.failed.add(peerId)
    this.closeMesh(peerId)
    // the offering side dials again while both are in the room; the other waits for its offer
    setTimeout(() => { if (!this.isOver() && this.currentTopology === 'mesh') this.dialIfOfferer(peerId) }, MESH_REDIAL_MS)
  }

  /** A member heard again while its connection lingered: that connection's tracks are its tracks again. */
  private resumeLingering ({ peerId, joinedAt }: ParticipantInfo): boolean {
    const kept = this.lingering.get(peerId)
    if (kept === undefined) return false
    clearTimeout(kept.timer)
    this.lingering.delete(peerId)
    const peer = this.mesh.get(peerId)
    if (peer === undefined) return false
    // a browser that joined again (a restart) has a new connection coming, not this one
    if (kept.joinedAt !== joinedAt || peer.link.connectionState !== 'connected') {
      this.closeMesh(peerId)
      return false
    }
    this.attachMeshTracks(peerId, peer)
    return true
  }

  /** The live tracks `peer`'s connection receives become its participant's (those already there stay as they are). */
  private attachMeshTracks (peerId: string, peer: MeshPeer): void {
    const tracks = this.members.get(peerId)?.stream.getTracks() ?? []
    for (const receiver of peer.link.pc.getReceivers()) if (receiver.track.readyState === 'live' && !tracks.includes(receiver.track)) this.attachTrack(peerId, receiver.track)
  }

  private closeMesh (peerId: string): void {
    clearTimeout(this.lingering.get(peerId)?.timer)
    this.lingering.delete(peerId)
    const peer = this.mesh.get(peerId)
    if (peer === undefined) return
    this.mesh.delete(peerId)
    peer.link.close()
  }

  /** While a forwarder carries the call, its tracks win over a mesh connection's. */
  private carriedByMesh (peerId: string): boolean {
    return ![...this.legs.values()].some(leg => leg.carriesMedia && [...leg.mids.values()].includes(peerId))
  }

  // forwarders

  private onTopology (topology: CallTopology, forwarder: string | null): void {
    this.currentTopology = topology
    this.forwarder = topology === 'forwarded' ? forwarder : null
    for (const [id] of this.legs) if (id !== this.forwarder) this.closeLeg(id)
    if (topology === 'mesh') for (const peerId of this.members.keys()) this.dialIfOfferer(peerId)
    this.emit('topology', { topology, forwarder: this.forwarder })
  }

  private leg (forwarder: string): ForwarderLeg | undefined {
    if (forwarder !== this.forwarder) return undefined
    let leg = this.legs.get(forwarder)
    if (leg !== undefined) return leg
    const link = new CallLink(this.iceServers, {
      signal: data => { void this.node.call('peerloom_callForwarderSignal', { callId: this.callId, forwarder, data }).catch(() => {}) },
      chat: text => { void this.openForwardedChat(text) },
      track: event => { this.onForwardedTrack(forwarder, event) },
      failed: () => { this.legFailed(forwarder) },
      connected: () => { this.failed.delete(forwarder) }
    })
    leg = { forwarder, link, upstream: [], mids: new Map(), unnamed: new Map(), carriesMedia: false }
    const created = leg
    // the forwarder offers; its first offer's first audio and video transceivers carry this page's media up
    link.onOffer = async () => {
      for (const transceiver of link.pc.getTransceivers()) {
        if (transceiver.currentDirection === 'stopped' || created.upstream.includes(transceiver)) continue
        const kind: Kind = transceiver.receiver.track.kind === 'audio' ? 'audio' : 'video'
        const isUpstream = created.upstream.length < KINDS.length && !created.upstream.some(t => t.receiver.track.kind === kind) && transceiver.mid !== null && ![...created.mids.keys()].includes(transceiver.mid)
        if (isUpstream) {
          transceiver.direction = 'sendonly'
          this.e2ee.sender(transceiver.sender, kind)
          await transceiver.sender.replaceTrack(this.local[kind])
          created.upstream.push(transceiver)
        } else if (transceiver.mid !== null) {
          transceiver.direction = 'recvonly'
          this.e2ee.receiver(transceiver.receiver, { forwarder, mid: transceiver.mid })
        }
      }
    }
    this.legs.set(forwarder, leg)
    return leg
  }

  private async onForwarderSignal (forwarder: string, data: SignalData): Promise<void> {
    if (!isObject(data)) return
    const leg = this.leg(forwarder)
    if (leg === undefined) return
    await leg.link.remote(data).catch(() => { this.legFailed(forwarder) })
  }

  private onTracks (forwarder: string, mids: Record<string, string>): void {
    const leg = this.leg(forwarder)
    if (leg === undefined || !isObject(mids)) return
    leg.mids = new Map(Object.entries(mids).filter(([, peerId]) => typeof peerId === 'string'))
    for (const [mid, peerId] of leg.mids) this.e2ee.mid(forwarder, mid, peerId)
    for (const [mid, track] of leg.unnamed) {
      const peerId = leg.mids.get(mid)
      if (peerId === undefined) continue
      leg.unnamed.delete(mid)
      this.attachTrack(peerId, track)
    }
  }

  private onForwardedTrack (forwarder: string, event: RTCTrackEvent): void {
    const leg = this.legs.get(forwarder)
    const mid = event.transceiver.mid
    if (leg === undefined || mid === null || leg.upstream.includes(event.transceiver)) return
    const peerId = leg.mids.get(mid)
    if (peerId === undefined) {
      leg.unnamed.set(mid, event.track)
      return
    }
    this.attachTrack(peerId, event.track)
    // the first frames through the forwarder end the mesh connections (one path per sender)
    event.track.addEventListener('unmute', () => {
      if (leg.carriesMedia || this.legs.get(forwarder) !== leg) return
      leg.carriesMedia = true
      for (const peerId of [...this.mesh.keys()]) this.closeMesh(peerId)
    }, { once: true })
  }

  private legFailed (forwarder: string): void {
    if (!this.legs.has(forwarder)) return
    this.failed.add(forwarder)
    this.closeLeg(forwarder)
    void this.reportStats()
  }

  private closeLeg (forwarder: string): void {
    const leg = this.legs.get(forwarder)
    if (leg === undefined) return
    this.legs.delete(forwarder)
    // a mesh connection that came up while this forwarder carried its sender had its tracks set aside
    for (const [peerId, peer] of this.mesh) if (this.carriedByMesh(peerId)) this.attachMeshTracks(peerId, peer)
    void leg.link.bytesReceived().then(bytes => { this.forwarderBytes[forwarder] = (this.forwarderBytes[forwarder] ?? 0) + bytes }, () => {}).finally(() => { leg.link.close() })
  }

  // chat

  /** Incoming chat is opened one message at a time: a burst from several senders must not fill the page port's 64 calls in flight, or the page's own calls (send, stats) are refused with 5005. */
  private opening: Promise<void> = Promise.resolve()

  private async openChat (from: string, sealed: string): Promise<void> {
    const opened = this.opening.then(async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          const message = await this.node.call('peerloom_callOpen', { callId: this.callId, from, sealed }) as ChatMessage
          this.record(message)
          return
        } catch (err) {
          // over the origin's call rate (50/s): wait for the bucket rather than drop the message
          if ((err as { code?: number }).code !== ErrorCode.RATE_LIMITED || attempt >= 20) return
          await new Promise(resolve => setTimeout(resolve, 50))
        }
      }
    })
    this.opening = opened
    await opened
  }

  /** Through a forwarder a message comes as `{ from, sealed }`: the forwarder names the sender, the sender's node checks it. */
  private async openForwardedChat (text: string): Promise<void> {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      return
    }
    if (isObject(parsed) && typeof parsed.from === 'string' && typeof parsed.sealed === 'string' && this.members.has(parsed.from)) await this.openChat(parsed.from, parsed.sealed)
  }

  private record (message: ChatMessage): void {
    if (!isObject(message) || typeof message.id !== 'string' || this.messageIds.has(`${message.from}/${message.id}`)) return
    this.messageIds.add(`${message.from}/${message.id}`)
    this.chat.push(message)
    this.emit('message', { message })
  }

  // reporting

  private mediaFlags (): MediaFlags {
    const on = (kind: Kind): boolean => this.local[kind] !== null && !this.muted[kind] && this.local[kind]!.readyState === 'live'
    return { audio: on('audio'), video: on('video'), screen: this.local.video !== null && this.local.video !== this.camera }
  }

  private reportMedia (): void {
    void this.node.call('peerloom_callMedia', { callId: this.callId, media: this.mediaFlags() }).catch(() => {})
  }

  private async reportStats (): Promise<void> {
    if (this.isOver()) return
    const bytes: Record<string, number> = { ...this.forwarderBytes }
    for (const [forwarder, leg] of this.legs) bytes[forwarder] = (bytes[forwarder] ?? 0) + await leg.link.bytesReceived().catch(() => 0)
    if (Object.keys(bytes).length === 0 && this.failed.size === 0) return
    const failed = [...this.failed]
    await this.node.call('peerloom_callStats', { callId: this.callId, forwarderBytes: bytes, ...(failed.length === 0 ? {} : { failed }) }).catch(() => {})
  }

  // lifecycle

  private isOver (): boolean {
    return this.currentState === 'left' || this.currentState === 'removed'
  }

  private assertLive (): void {
    if (this.isOver()) throw new PeerloomError(ErrorCode.CALL_NOT_FOUND, `this call has ended (${this.currentState})`)
  }

  private setState (state: CallState, reason?: string, code?: number): void {
    if (state === this.currentState) return
    this.currentState = state
    this.emit('state', { state, ...(reason === undefined ? {} : { reason }), ...(code === undefined ? {} : { code }) })
  }

  private teardown (state: 'left' | 'removed', reason?: string, code?: number): void {
    clearInterval(this.statsTimer)
    this.sink.close?.()
    for (const peerId of [...this.mesh.keys()]) this.closeMesh(peerId)
    for (const forwarder of [...this.legs.keys()]) {
      this.legs.get(forwarder)?.link.close()
      this.legs.delete(forwarder)
    }
    this.e2ee.close()
    this.setState(state, reason, code)
  }

  private emit<K extends CallEventType> (type: K, detail: CallEventDetail[K]): void {
    this.dispatchEvent(new CustomEvent(type, { detail }))
  }
}

/** `peerloom.call.join`: asks the node to join, then runs the call's connections in this page. */
export async function joinCall (node: CallNode, room: string, options: CallJoinOptions): Promise<Call> {
  if (typeof room !== 'string' || room.length === 0) throw invalid('call.join(room): room is an open room\'s name or a gated room\'s content id')
  if (!isObject(options) || !(options.stream instanceof MediaStream)) throw invalid('call.join(room, { stream }): stream must be a MediaStream')
  if (typeof options.name !== 'string' || options.name.length === 0 || options.name.length > MAX_NAME_LENGTH) throw invalid(`call.join(room, { name }): name is 1–${MAX_NAME_LENGTH} characters`)
  const signal = options.signal
  signal?.throwIfAborted()
  const audio = options.stream.getAudioTracks()[0]
  const video = options.stream.getVideoTracks()[0]
  const media: MediaFlags = { audio: audio?.enabled === true, video: video?.enabled === true, screen: false }
  // pushes can come before the join's result: they wait for the call
  const early: unknown[] = []
  const joining: { call?: PeerloomCall, lost?: true } = {}
  const sink: CallEventSink = {
    event: event => { if (joining.call === undefined) early.push(event); else joining.call.handle(event) },
    lost: () => { if (joining.call === undefined) joining.lost = true; else joining.call.lost() }
  }
  const joined = await node.call('peerloom_callJoin', { room, name: options.name, media }, { events: sink }) as CallJoinResult
  if (!isObject(joined) || typeof joined.callId !== 'string' || !isObject(joined.ownKey) || !Array.isArray(joined.participants)) {
    sink.close?.()
    throw new PeerloomError(ErrorCode.DISCONNECTED, 'the node answered the join with something that is not a call')
  }
  const ownKey: MediaKey = joined.ownKey
  const call = new PeerloomCall(node, room, { ...joined, ownKey, iceServers: Array.isArray(joined.iceServers) ? joined.iceServers : [], history: Array.isArray(joined.history) ? joined.history : [] }, options, sink)
  joining.call = call
  for (const event of early.splice(0)) call.handle(event)
  if (joining.lost === true) call.lost()
  if (signal !== undefined) {
    if (signal.aborted) await call.leave()
    else signal.addEventListener('abort', () => { void call.leave() }, { once: true })
  }
  return call
}
