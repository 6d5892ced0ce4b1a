/**
 * The forwarder's passthrough engine (docs/CALLS.md, Forwarders): one RTCPeerConnection per
 * attached participant or cascade leg, each inbound track read in the transform worker
 * (frame-relay.ts) and written, unchanged, into a track-less sender on every other leg of the
 * room. No media key, no decoder, no encoder: the senders' E2EE ciphertext goes through as it
 * came. Signalling leaves through `send`; the service carries it over FORWARD_PROTOCOL.
 *
 * @example
 * ```ts
 * const engine = new ForwarderEngine({ createWorker, limits: () => ({ maxStreams: 16, uploadRateBytesPerSec: 4 << 20 }), send })
 * engine.attach('room/peer', { roomId, peerId, kind: 'participant' })
 * await engine.signal('room/peer', answer)
 * ```
 */
import { CallLimitError, InvalidParamsError } from '@peerloom/shared'
import type { SignalData } from '@peerloom/shared/calls/api'
import { TokenBucket } from '@peerloom/shared/token-bucket'
import type { EncodedFrame, InboundOptions, RelayCommand, RelayReport, SampledFrame, SinkCounters, SourceCounters } from './relay-protocol.ts'

/** Tracks each participant sends up: audio and video (CALLS.md, the forwarder's leg). */
export const UPSTREAM_TRACKS = 2
/** How often the engine reads the worker's counters and each leg's RTCP feedback. @default 1000 */
export const DEFAULT_POLL_INTERVAL_MS = 1000
/** A sender's bitrate cap is re-offered only when the target moved by more than this fraction... */
const BITRATE_CHANGE_FRACTION = 0.25
/** ...and at most this often per leg (each change is a renegotiation). */
const BITRATE_RENEGOTIATE_MS = 5000
/** A sender is never asked to go below this (kbit/s): under it VP8 gives nothing watchable. */
const MIN_VIDEO_KBPS = 100
/**
 * The cap on a participant's first offer (kbit/s): each of the forwarder's outbound legs starts
 * at WebRTC's 300 kbit/s estimate and, with no encoder to probe for more, grows only with what
 * it carries; a sender above it fills the leg's pacer (25–100 ms per packet after a join, measured).
 */
export const START_VIDEO_KBPS = 300
/** Share of a subscriber's estimate a sender is capped at: room for encoder overshoot, audio and RTCP. */
const BITRATE_HEADROOM = 0.85
/**
 * Largest chat message relayed (UTF-16 code units of the string on the channel): a sealed
 * message of 4000 characters of 4-byte UTF-8 is about 22 000. @default 65_536
 */
export const MAX_CHAT_MESSAGE_CHARS = 65_536
/** Chat messages one leg may send through the forwarder, per second and in a burst; beyond them they are dropped. */
const CHAT_RATE = { rate: 10, burst: 30 }

export type LegKind = 'participant' | 'cascade'

/** What the engine sends to a leg's remote end (the service frames it on the stream). */
export type LegMessage =
  | { type: 'signal', data: SignalData }
  | { type: 'tracks', mids: Record<string, string> }

export interface ForwarderLimits {
  maxStreams: number
  uploadRateBytesPerSec: number
}

export interface ForwarderEngineInit {
  /** Starts the transform worker (the extension's forwarder-worker.js, or a test's bundle of frame-relay.ts). */
  createWorker: () => Worker
  limits: () => ForwarderLimits
  iceServers?: () => RTCIceServer[]
  send: (legId: string, message: LegMessage) => void
  /** The engine closed a leg on its own: its connection failed or closed. */
  onClosed?: (legId: string, reason: string) => void
  /** @default DEFAULT_POLL_INTERVAL_MS */
  pollIntervalMs?: number
}

export interface AttachOptions {
  roomId: string
  /** The participant, or for a cascade leg the other forwarder. */
  peerId: string
  kind: LegKind
  /** Cascade legs: the opener is polite (CALLS.md). Participant legs never take an offer. */
  polite?: boolean
}

export interface LegStats {
  legId: string
  roomId: string
  peerId: string
  kind: LegKind
  /** Bytes of frames forwarded to this leg (what its receipts cover). */
  bytesSent: number
  /** Bytes of frames that came in on this leg. */
  bytesReceived: number
  /** Video key frames that came in on this leg (each subscriber join or loss asks for one). */
  keyFramesReceived: number
  /** Streams forwarded to this leg now. */
  streams: number
  /** Frames this leg's live streams did not get because they were over the upload cap. */
  framesDropped: number
  /** The video bitrate cap (kbit/s) last offered to this participant's sender, to fit its weakest subscriber and the upload cap. */
  upstreamKbps: number | null
}

export interface ForwarderStats {
  /** Streams forwarded now (one sender's track to one subscriber). */
  load: number
  rooms: number
  legs: LegStats[]
}

interface Source {
  key: string
  leg: Leg
  kind: 'audio' | 'video'
  transceiver: RTCRtpTransceiver
  /** Whose media this is; on a cascade leg unknown until the other forwarder's `tracks` names its mid. */
  origin: string | null
  sinks: Set<Sink>
  bytes: number
  keyFrames: number
  /** The cap last offered to this source's sender (kbit/s), participant legs only. */
  offeredKbps?: number
}

interface Sink {
  key: string
  source: Source
  leg: Leg
  transceiver: RTCRtpTransceiver
  bytes: number
  dropped: number
  /** PLI + FIR count last seen in the leg's outbound-rtp stats. */
  feedback: number
  /** The worker was told this sender can send (negotiated, connection up). */
  ready: boolean
}

interface Leg {
  id: string
  roomId: string
  peerId: string
  kind: LegKind
  polite: boolean
  pc: RTCPeerConnection
  sources: Map<string, Source>
  sinks: Map<string, Sink>
  makingOffer: boolean
  ignoreOffer: boolean
  /** Cascade legs: mid → origin peer id, as the other forwarder's `tracks` said. */
  remoteMids: Record<string, string>
  /** Signals are applied one after the other. */
  queue: Promise<void>
  lastBitrateOffer: number
  closed: boolean
  /** The `chat` data channel: the forwarder opens it on participant legs and as a cascade's opener. */
  chat?: RTCDataChannel
  chatAllowance: TokenBucket
}

/** Legacy encoded streams of a sender on a connection made with `encodedInsertableStreams`. */
interface LegacyEncodedSender { createEncodedStreams: () => { readable: ReadableStream<EncodedFrame>, writable: WritableStream<EncodedFrame> } }
type ScriptTransformCtor = new (worker: Worker, options: InboundOptions) => object

/** Puts `b=AS:<kbps>` into the media section of `mid` (the remote's sender honours it as its cap). */
export function withBandwidth (sdp: string, caps: Map<string, number>): string {
  if (caps.size === 0) return sdp
  const sections = sdp.split(/(?=\r\nm=)/)
  return sections.map(section => {
    const mid = /\r\na=mid:(\S+)/.exec(section)?.[1]
    const kbps = mid === undefined ? undefined : caps.get(mid)
    if (kbps === undefined) return section
    const lines = section.split('\r\n').filter(line => !line.startsWith('b=AS:'))
    const at = lines.findIndex(line => line.startsWith('c='))
    lines.splice(at < 0 ? 2 : at + 1, 0, `b=AS:${Math.round(kbps)}`)
    return lines.join('\r\n')
  }).join('')
}

/** Only VP8 on video m-lines: every leg must carry the sender's own codec, which the forwarder cannot transcode. */
function preferVp8 (transceiver: RTCRtpTransceiver): void {
  const codecs = RTCRtpReceiver.getCapabilities('video')?.codecs.filter(c => c.mimeType.toLowerCase() === 'video/vp8') ?? []
  if (codecs.length > 0) transceiver.setCodecPreferences(codecs)
}

/** What the service needs of an engine (the forwarder's, or a test's stand-in). */
export interface PassthroughEngine {
  readonly load: number
  readonly rooms: number
  has: (legId: string) => boolean
  attach: (legId: string, options: AttachOptions) => void
  signal: (legId: string, data: SignalData) => Promise<void>
  tracks: (legId: string, mids: Record<string, string>) => void
  detach: (legId: string) => void
  stats: () => ForwarderStats
  /** Frames as they arrive from `peerId` (tests); engines without media have none. */
  sampleFrames?: (roomId: string, peerId: string, kind: 'audio' | 'video', count: number) => Promise<SampledFrame[]>
  close: () => void
}

export class ForwarderEngine implements PassthroughEngine {
  private readonly init: ForwarderEngineInit
  private readonly legs = new Map<string, Leg>()
  private worker?: Worker
  private timer?: ReturnType<typeof setInterval>
  private nextKey = 0
  private nextRequest = 0
  private readonly pending = new Map<number, (report: RelayReport) => void>()
  private readonly sourcesByKey = new Map<string, Source>()
  private readonly sinksByKey = new Map<string, Sink>()

  constructor (init: ForwarderEngineInit) {
    this.init = init
  }

  /** Streams forwarded now. */
  get load (): number {
    return this.sinksByKey.size
  }

  /** Rooms with at least one leg. */
  get rooms (): number {
    return new Set([...this.legs.values()].map(leg => leg.roomId)).size
  }

  has (legId: string): boolean {
    return this.legs.has(legId)
  }

  /**
   * Opens a leg: for a participant, its connection with the upstream transceivers and one sender
   * for each stream already in the room; the forwarder's offer follows through `send`. Throws
   * CallLimitError (5021) when the streams it adds would pass `maxStreams`.
   */
  attach (legId: string, options: AttachOptions): void {
    if (this.legs.has(legId)) throw new InvalidParamsError(`leg ${legId} is already attached`)
    const room = this.roomLegs(options.roomId)
    const added = options.kind === 'participant'
      ? UPSTREAM_TRACKS * room.length + this.forwardable(room, options.kind).length
      : this.forwardable(room, options.kind).length
    const { maxStreams } = this.init.limits()
    if (this.load + added > maxStreams) {
      throw new CallLimitError(`this forwarder is full: ${this.load} of ${maxStreams} streams in use, this call needs ${added} more`, { data: { load: this.load, maxStreams } })
    }
    const worker = this.ensureWorker()
    const pc = new RTCPeerConnection({ iceServers: this.init.iceServers?.() ?? [], encodedInsertableStreams: true } as RTCConfiguration)
    const leg: Leg = {
      id: legId, roomId: options.roomId, peerId: options.peerId, kind: options.kind, polite: options.polite ?? false, pc,
      sources: new Map(), sinks: new Map(), makingOffer: false, ignoreOffer: false, remoteMids: {}, queue: Promise.resolve(),
      lastBitrateOffer: 0, closed: false, chatAllowance: new TokenBucket(CHAT_RATE)
    }
    this.legs.set(legId, leg)
    pc.onicecandidate = event => { this.init.send(legId, { type: 'signal', data: { candidate: event.candidate?.toJSON() ?? null } }) }
    pc.onnegotiationneeded = () => { void this.negotiate(leg) }
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') this.closeLeg(leg, `connection ${pc.connectionState}`)
      else this.markReady(leg)
    }
    pc.ontrack = event => {
      // cascade legs: the other forwarder's senders; participant upstreams got their transform in addUpstream
      if (leg.kind === 'cascade' && ![...leg.sources.values()].some(s => s.transceiver === event.transceiver)) {
        this.addSource(leg, event.transceiver, event.track.kind as 'audio' | 'video', leg.remoteMids[event.transceiver.mid ?? ''] ?? null, worker)
      }
    }
    // the side that offers opens the chat channel (CALLS.md, Chat): always, to a participant; the opener, on a cascade
    if (leg.kind === 'participant' || leg.polite) this.useChat(leg, pc.createDataChannel('chat', { ordered: true }))
    else pc.ondatachannel = event => { if (event.channel.label === 'chat' && leg.chat === undefined) this.useChat(leg, event.channel) }
    if (leg.kind === 'participant') {
      for (const kind of ['audio', 'video'] as const) {
        const transceiver = pc.addTransceiver(kind, { direction: 'recvonly' })
        if (kind === 'video') preferVp8(transceiver)
        this.addSource(leg, transceiver, kind, leg.peerId, worker)
      }
    }
    for (const source of this.forwardable(room, leg.kind)) this.addSink(source, leg)
    if (leg.kind === 'participant') {
      const shareKbps = this.videoShareKbps(this.init.limits().uploadRateBytesPerSec)
      for (const source of leg.sources.values()) if (source.kind === 'video') source.offeredKbps = Math.max(MIN_VIDEO_KBPS, Math.min(START_VIDEO_KBPS, shareKbps))
    }
    this.startPolling()
  }

  /** Applies a `signal` from the leg's remote end (an answer or ICE candidate; on a cascade also offers). */
  async signal (legId: string, data: SignalData): Promise<void> {
    const leg = this.leg(legId)
    const run = leg.queue.then(async () => { await this.applySignal(leg, data) })
    leg.queue = run.catch(() => {})
    await run
  }

  /** A cascade leg's `tracks`: which of its incoming mids carry whose media. */
  tracks (legId: string, mids: Record<string, string>): void {
    const leg = this.leg(legId)
    if (leg.kind !== 'cascade') throw new InvalidParamsError('only a cascade leg sends tracks to a forwarder')
    leg.remoteMids = mids
    for (const source of leg.sources.values()) {
      const origin = mids[source.transceiver.mid ?? '']
      if (origin !== undefined && source.origin === null) {
        source.origin = origin
        for (const other of this.roomLegs(leg.roomId)) if (other.kind === 'participant') this.addSink(source, other)
      }
    }
  }

  /** Closes a leg: its connection, the senders that carried its tracks to the others, its counters. */
  detach (legId: string): void {
    const leg = this.legs.get(legId)
    if (leg !== undefined) this.closeLeg(leg, 'detached')
  }

  /** Asks the sender of every video stream `legId` receives for a key frame (its page reported loss). */
  requestKeyFrames (legId: string): void {
    for (const sink of this.leg(legId).sinks.values()) this.command({ type: 'keyframe', source: sink.source.key })
  }

  stats (): ForwarderStats {
    const legs = [...this.legs.values()].map(leg => ({
      legId: leg.id,
      roomId: leg.roomId,
      peerId: leg.peerId,
      kind: leg.kind,
      bytesSent: [...leg.sinks.values()].reduce((sum, sink) => sum + sink.bytes, 0) + this.retiredBytes(leg),
      bytesReceived: [...leg.sources.values()].reduce((sum, source) => sum + source.bytes, 0),
      keyFramesReceived: [...leg.sources.values()].reduce((sum, source) => sum + source.keyFrames, 0),
      streams: leg.sinks.size,
      framesDropped: [...leg.sinks.values()].reduce((sum, sink) => sum + sink.dropped, 0),
      upstreamKbps: [...leg.sources.values()].find(source => source.kind === 'video')?.offeredKbps ?? null
    }))
    return { load: this.load, rooms: this.rooms, legs }
  }

  /** SHA-256 digests of the next `count` frames the forwarder receives from `peerId` on `kind` (tests compare them with the sender's). */
  async sample (roomId: string, peerId: string, kind: 'audio' | 'video', count: number): Promise<string[]> {
    const report = await this.request(id => ({ type: 'sample', id, source: this.sourceOf(roomId, peerId, kind).key, count }))
    return report.type === 'sample' ? report.digests : []
  }

  /** The next `count` frames the forwarder receives from `peerId` on `kind`, as they came (tests check they are the sender's ciphertext). */
  async sampleFrames (roomId: string, peerId: string, kind: 'audio' | 'video', count: number): Promise<SampledFrame[]> {
    const report = await this.request(id => ({ type: 'sample', id, source: this.sourceOf(roomId, peerId, kind).key, count, raw: true }))
    return report.type === 'sample' ? report.frames ?? [] : []
  }

  private sourceOf (roomId: string, peerId: string, kind: 'audio' | 'video'): Source {
    const source = [...this.sourcesByKey.values()].find(s => s.leg.roomId === roomId && s.origin === peerId && s.kind === kind)
    if (source === undefined) throw new InvalidParamsError(`no ${kind} from ${peerId} in room ${roomId}`)
    return source
  }

  private useChat (leg: Leg, channel: RTCDataChannel): void {
    leg.chat = channel
    channel.onmessage = (event: MessageEvent) => { this.relayChat(leg, event.data) }
  }

  /**
   * Chat from one leg to the room's others (CALLS.md, Chat): a participant's sealed string goes
   * out as `{ from, sealed }` naming that participant (to the other participants and the
   * cascades); what a cascade brings already names its sender and goes to participants only.
   * The forwarder cannot open it; the receivers' nodes check the name.
   */
  private relayChat (leg: Leg, data: unknown): void {
    if (leg.closed || typeof data !== 'string' || data.length > MAX_CHAT_MESSAGE_CHARS || !leg.chatAllowance.tryTake(1)) return
    let out: string
    if (leg.kind === 'participant') {
      out = JSON.stringify({ from: leg.peerId, sealed: data })
    } else {
      let parsed: unknown
      try {
        parsed = JSON.parse(data)
      } catch {
        return
      }
      const { from, sealed } = (parsed ?? {}) as { from?: unknown, sealed?: unknown }
      if (typeof from !== 'string' || typeof sealed !== 'string' || from.length > 128) return
      out = JSON.stringify({ from, sealed })
    }
    for (const other of this.roomLegs(leg.roomId)) {
      if (other === leg || (leg.kind === 'cascade' && other.kind === 'cascade')) continue
      if (other.chat?.readyState === 'open') other.chat.send(out)
    }
  }

  /** Closes every leg and the worker. */
  close (): void {
    for (const leg of [...this.legs.values()]) this.closeLeg(leg, 'forwarder stopped')
    this.stopPolling()
    this.worker?.terminate()
    this.worker = undefined
    for (const resolve of this.pending.values()) resolve({ type: 'error', message: 'forwarder stopped' })
    this.pending.clear()
  }

  /** Bytes sent by each leg's removed sinks. */
  private readonly retired = new Map<string, number>()
  /** Removed sinks whose last counters the worker has not reported yet: sink key → leg and bytes known. */
  private readonly retiredSinks = new Map<string, { legId: string, bytes: number }>()

  private retiredBytes (leg: Leg): number {
    return this.retired.get(leg.id) ?? 0
  }

  private leg (legId: string): Leg {
    const leg = this.legs.get(legId)
    if (leg === undefined) throw new InvalidParamsError(`no leg ${legId} here`)
    return leg
  }

  private roomLegs (roomId: string): Leg[] {
    return [...this.legs.values()].filter(leg => leg.roomId === roomId)
  }

  /** The streams of `room` a new leg of `kind` gets: everything known for a participant, only participants' own for a cascade. */
  private forwardable (room: Leg[], kind: LegKind): Source[] {
    return room.flatMap(leg => [...leg.sources.values()]).filter(source => source.origin !== null && (kind === 'participant' || source.leg.kind === 'participant'))
  }

  private ensureWorker (): Worker {
    if (this.worker !== undefined) return this.worker
    const worker = this.init.createWorker()
    worker.onmessage = (event: MessageEvent<RelayReport>) => { this.onReport(event.data) }
    this.worker = worker
    this.command({ type: 'rate', bytesPerSec: this.init.limits().uploadRateBytesPerSec })
    return worker
  }

  private command (command: RelayCommand, transfer: Transferable[] = []): void {
    this.worker?.postMessage(command, transfer)
  }

  /** A command that the worker answers with the same `id`. */
  private async request (make: (id: number) => RelayCommand): Promise<RelayReport> {
    const id = ++this.nextRequest
    if (this.worker === undefined) return { type: 'error', message: 'forwarder stopped' }
    const answer = new Promise<RelayReport>(resolve => { this.pending.set(id, resolve) })
    this.command(make(id))
    return await answer
  }

  private onReport (report: RelayReport): void {
    if (report.type === 'stats' || report.type === 'sample') {
      this.pending.get(report.id)?.(report)
      this.pending.delete(report.id)
    }
  }

  private addSource (leg: Leg, transceiver: RTCRtpTransceiver, kind: 'audio' | 'video', origin: string | null, worker: Worker): void {
    const key = `s${++this.nextKey}`
    const Transform = (globalThis as unknown as { RTCRtpScriptTransform: ScriptTransformCtor }).RTCRtpScriptTransform;
    (transceiver.receiver as unknown as { transform: object }).transform = new Transform(worker, { source: key, kind })
    const source: Source = { key, leg, kind, transceiver, origin, sinks: new Set(), bytes: 0, keyFrames: 0 }
    leg.sources.set(key, source)
    this.sourcesByKey.set(key, source)
    if (origin === null) return
    for (const other of this.roomLegs(leg.roomId)) {
      if (other !== leg && (other.kind === 'participant' || leg.kind === 'participant')) this.addSink(source, other)
    }
  }

  /** A track-less sender on `leg` whose encoded stream the worker writes `source`'s frames into. */
  private addSink (source: Source, leg: Leg): void {
    if (leg.closed || source.leg === leg) return
    const transceiver = leg.pc.addTransceiver(source.kind, { direction: 'sendonly' })
    if (source.kind === 'video') preferVp8(transceiver)
    const { writable } = (transceiver.sender as unknown as LegacyEncodedSender).createEncodedStreams()
    const sink: Sink = { key: `k${++this.nextKey}`, source, leg, transceiver, bytes: 0, dropped: 0, feedback: 0, ready: false }
    source.sinks.add(sink)
    leg.sinks.set(sink.key, sink)
    this.sinksByKey.set(sink.key, sink)
    this.command({ type: 'subscribe', source: source.key, sink: sink.key, kind: source.kind, writable }, [writable as unknown as Transferable])
  }

  private removeSink (sink: Sink): void {
    this.command({ type: 'unsubscribe', sink: sink.key })
    sink.source.sinks.delete(sink)
    sink.leg.sinks.delete(sink.key)
    this.sinksByKey.delete(sink.key)
    this.retired.set(sink.leg.id, this.retiredBytes(sink.leg) + sink.bytes)
    this.retiredSinks.set(sink.key, { legId: sink.leg.id, bytes: sink.bytes })
    // stopping renegotiates: the leg's next offer (and its tracks) no longer has this mid
    if (!sink.leg.closed) sink.transceiver.stop()
  }

  private removeSource (source: Source): void {
    for (const sink of [...source.sinks]) this.removeSink(sink)
    source.leg.sources.delete(source.key)
    this.sourcesByKey.delete(source.key)
  }

  private closeLeg (leg: Leg, reason: string): void {
    if (leg.closed) return
    leg.closed = true
    this.legs.delete(leg.id)
    for (const sink of [...leg.sinks.values()]) this.removeSink(sink)
    for (const source of [...leg.sources.values()]) this.removeSource(source)
    this.retired.delete(leg.id)
    for (const [key, retired] of this.retiredSinks) if (retired.legId === leg.id) this.retiredSinks.delete(key)
    leg.chat?.close()
    leg.pc.close()
    if (reason !== 'detached') this.init.onClosed?.(leg.id, reason)
    if (this.legs.size === 0) this.stopPolling()
  }

  /** The mids this leg sends and whose media each carries. */
  private liveMids (leg: Leg): Record<string, string> {
    const mids: Record<string, string> = {}
    for (const sink of leg.sinks.values()) {
      if (sink.transceiver.mid !== null && sink.source.origin !== null) mids[sink.transceiver.mid] = sink.source.origin
    }
    return mids
  }

  /** The bitrate caps (kbit/s) to put on this participant's upstream video in the next offer. */
  private bitrateCaps (leg: Leg): Map<string, number> {
    const caps = new Map<string, number>()
    for (const source of leg.sources.values()) {
      if (source.kind === 'video' && source.offeredKbps !== undefined && source.transceiver.mid !== null) caps.set(source.transceiver.mid, source.offeredKbps)
    }
    return caps
  }

  /** Offers the leg's current transceivers; a leg whose offer cannot be made is closed. */
  private async negotiate (leg: Leg): Promise<void> {
    if (leg.closed || leg.makingOffer || leg.pc.signalingState !== 'stable') return
    try {
      leg.makingOffer = true
      await leg.pc.setLocalDescription()
      const local = leg.pc.localDescription
      if (local === null || leg.closed) return
      this.init.send(leg.id, { type: 'tracks', mids: this.liveMids(leg) })
      const sdp = leg.kind === 'participant' ? withBandwidth(local.sdp, this.bitrateCaps(leg)) : local.sdp
      this.init.send(leg.id, { type: 'signal', data: { sdp: { type: local.type as 'offer' | 'answer', sdp } } })
    } catch (err) {
      this.closeLeg(leg, `negotiation failed: ${String(err)}`)
    } finally {
      leg.makingOffer = false
    }
  }

  private async applySignal (leg: Leg, data: SignalData): Promise<void> {
    if (leg.closed) return
    const pc = leg.pc
    if ('sdp' in data) {
      const description = data.sdp
      if (leg.kind === 'participant' && description.type === 'offer') throw new InvalidParamsError('the forwarder offers; a participant only answers')
      const collision = description.type === 'offer' && (leg.makingOffer || pc.signalingState !== 'stable')
      leg.ignoreOffer = !leg.polite && collision
      if (leg.ignoreOffer) return
      if (description.type === 'answer' && pc.signalingState !== 'have-local-offer') throw new InvalidParamsError('an answer came without an offer')
      await pc.setRemoteDescription(description)
      if (description.type === 'offer') {
        await pc.setLocalDescription()
        const local = pc.localDescription
        if (local !== null) this.init.send(leg.id, { type: 'signal', data: { sdp: { type: 'answer', sdp: local.sdp } } })
      }
      if (leg.kind === 'cascade') this.dropStoppedSources(leg)
      this.markReady(leg)
      // changes made while this offer was out (a joiner's sender) need one more round
      if (pc.signalingState === 'stable' && this.needsOffer(leg)) void this.negotiate(leg)
      return
    }
    try {
      await pc.addIceCandidate(data.candidate ?? undefined)
    } catch (err) {
      if (!leg.ignoreOffer) throw new InvalidParamsError(`bad ICE candidate: ${String(err)}`)
    }
  }

  /**
   * Tells the worker which of the leg's senders can send now (negotiated to send, connection
   * up): a key frame written before then is lost, and the subscriber would wait for its
   * decoder's PLI and the next poll to get another (about a second at join).
   */
  private markReady (leg: Leg): void {
    if (leg.closed || leg.pc.connectionState !== 'connected') return
    for (const sink of leg.sinks.values()) {
      const direction = sink.transceiver.currentDirection
      if (sink.ready || (direction !== 'sendonly' && direction !== 'sendrecv')) continue
      sink.ready = true
      this.command({ type: 'ready', sink: sink.key })
    }
  }

  /** True when a transceiver has no mid yet or one was stopped but still has an m-line. */
  private needsOffer (leg: Leg): boolean {
    return leg.pc.getTransceivers().some(t => (t.mid === null && t.direction !== 'stopped') || (t.direction === 'stopped' && t.currentDirection !== 'stopped'))
  }

  /** A cascade's remote stopped a sender (its participant left): that source is gone. */
  private dropStoppedSources (leg: Leg): void {
    for (const source of [...leg.sources.values()]) {
      if (source.transceiver.currentDirection === 'stopped' || source.transceiver.currentDirection === 'inactive') this.removeSource(source)
    }
  }

  private startPolling (): void {
    if (this.timer !== undefined) return
    this.timer = setInterval(() => { void this.poll() }, this.init.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS)
  }

  private stopPolling (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** Counters from the worker; PLI/FIR from each subscriber → a key frame request; bitrate caps. */
  private async poll (): Promise<void> {
    const { uploadRateBytesPerSec } = this.init.limits()
    this.command({ type: 'rate', bytesPerSec: uploadRateBytesPerSec })
    const report = await this.request(id => ({ type: 'stats', id }))
    if (report.type === 'stats') this.applyCounters(report.sources, report.sinks)
    const available = new Map<Leg, number>()
    for (const leg of [...this.legs.values()]) {
      if (leg.closed) continue
      const stats = await leg.pc.getStats().catch(() => undefined)
      if (stats === undefined) continue
      const byMid = new Map<string, Sink>()
      for (const sink of leg.sinks.values()) if (sink.transceiver.mid !== null) byMid.set(sink.transceiver.mid, sink)
      stats.forEach((entry: Record<string, unknown>) => {
        if (entry.type === 'outbound-rtp' && typeof entry.mid === 'string') {
          const sink = byMid.get(entry.mid)
          const feedback = Number(entry.pliCount ?? 0) + Number(entry.firCount ?? 0)
          if (sink !== undefined && feedback > sink.feedback) {
            sink.feedback = feedback
            this.command({ type: 'keyframe', source: sink.source.key })
          }
        }
        if (entry.type === 'candidate-pair' && entry.nominated === true && typeof entry.availableOutgoingBitrate === 'number') {
          available.set(leg, entry.availableOutgoingBitrate)
        }
      })
    }
    this.followWeakestSubscriber(available, uploadRateBytesPerSec)
  }

  private applyCounters (sources: Record<string, SourceCounters>, sinks: Record<string, SinkCounters>): void {
    for (const [key, counters] of Object.entries(sources)) {
      const source = this.sourcesByKey.get(key)
      if (source === undefined) continue
      source.bytes = counters.bytes
      source.keyFrames = counters.keyFrames
    }
    for (const [key, counters] of Object.entries(sinks)) {
      const sink = this.sinksByKey.get(key)
      if (sink !== undefined) {
        sink.bytes = counters.bytes
        sink.dropped = counters.dropped
        continue
      }
      // a sink removed since the last report: its final bytes still count for its leg
      const retired = this.retiredSinks.get(key)
      if (retired === undefined) continue
      this.retiredSinks.delete(key)
      if (this.legs.has(retired.legId)) this.retired.set(retired.legId, (this.retired.get(retired.legId) ?? 0) + counters.bytes - retired.bytes)
    }
  }

  /** Each video stream's share of the donor's upload cap, kbit/s. */
  private videoShareKbps (uploadRateBytesPerSec: number): number {
    const videoSinks = [...this.sinksByKey.values()].filter(sink => sink.source.kind === 'video').length
    return uploadRateBytesPerSec * 8 / 1000 / Math.max(1, videoSinks)
  }

  /**
   * The passthrough has no encoder, so each sender's video must fit its weakest subscriber's
   * path and the donor's upload cap: the cap is offered to the sender as `b=AS` (CALLS.md).
   */
  private followWeakestSubscriber (available: Map<Leg, number>, uploadRateBytesPerSec: number): void {
    const shareKbps = this.videoShareKbps(uploadRateBytesPerSec)
    const now = Date.now()
    for (const leg of this.legs.values()) {
      if (leg.kind !== 'participant' || now - leg.lastBitrateOffer < BITRATE_RENEGOTIATE_MS) continue
      let changed = false
      for (const source of leg.sources.values()) {
        if (source.kind !== 'video' || source.sinks.size === 0) continue
        let target = shareKbps
        for (const sink of source.sinks) {
          const bps = available.get(sink.leg)
          const perStream = bps === undefined ? undefined : BITRATE_HEADROOM * bps / 1000 / Math.max(1, [...sink.leg.sinks.values()].filter(s => s.source.kind === 'video').length)
          if (perStream !== undefined) target = Math.min(target, perStream)
        }
        target = Math.max(MIN_VIDEO_KBPS, target)
        const offered = source.offeredKbps
        // the upload cap is a limit, not an estimate: a cap above this sender's share of it is always re-offered
        if (offered === undefined || Math.abs(target - offered) / offered > BITRATE_CHANGE_FRACTION || offered > Math.max(MIN_VIDEO_KBPS, shareKbps)) {
          source.offeredKbps = target
          changed = true
        }
      }
      if (changed) {
        leg.lastBitrateOffer = now
        void this.negotiate(leg)
      }
    }
  }
}
