/**
 * One call: this browser's membership of one room (docs/CALLS.md). It sends presence, tracks
 * the other members, carries its page's signalling to them and theirs to it, hands out its
 * media key to each member (wrapped by ECDH) and makes a new one whenever a member leaves,
 * unwraps the members' keys for its page, seals and opens chat, and for a gated room keeps
 * the room key current (a removed holder's call ends with `removed`, 5011).
 *
 * Every room message is validated; what is malformed or does not open is dropped and counted.
 */
import type { Logger } from '@libp2p/interface'
import { CallLimitError, ErrorCode, InvalidParamsError, isPeerloomError } from '@peerloom/shared'
import { joinedBefore } from '@peerloom/shared/calls/api'
import type { CallEvent, CallJoinResult, CallState, CallTopology, ChatMessage, MediaFlags, MediaKey, ParticipantInfo, SignalData } from '@peerloom/shared/calls/api'
import {
  KEY_SWITCH_DELAY_MS, PRESENCE_INTERVAL_MS, PRESENCE_TIMEOUT_MS, RoomCipher, mediaWrapKey, parseEnvelope, shortId, unwrapMediaKey, wrapMediaKey
} from '@peerloom/shared/calls/room'
import type { EcdhKeyPair, HelloBody, KeyBody, KeyRequestBody, RoomBody, RoomName, SignalBody } from '@peerloom/shared/calls/room'
import type { ChatHistory } from './calls-db.ts'
import { GATED_KEY_REFRESH_MS, KEY_REQUEST_AFTER_MS, KEY_REQUEST_MIN_INTERVAL_MS, KEY_SENDS_PER_MEMBER, MAX_TRACKED_PEERS, REKEY_MIN_INTERVAL_MS, ROTATE_COALESCE_MS } from './constants.ts'
import type { GatedRoomKeys } from './room-keys.ts'

/**
 * Extra hellos after the first, in ms from joining, until a member is heard: the first can be
 * lost while the relays subscribe to the room's topic and gossipsub grafts this browser into
 * its mesh, and the next presence tick is PRESENCE_INTERVAL_MS away (docs/CALLS.md, hello).
 */
export const JOIN_HELLO_BURST_MS = [150, 400, 1000] as const

/**
 * For this long after admitting a member, its hellos are answered with ours at once: a joiner
 * still sending its burst has not heard us yet.
 */
export const ANSWER_WINDOW_MS = 1500
/**
 * Answers go out at most this often; one due sooner waits for the gap's end rather than being
 * dropped (the hello before it may have gone out before the joiner subscribed). @default 100
 */
const ANSWER_MIN_GAP_MS = 100
const MAX_ANSWERS = 2

/** How often members' presence is checked. @default 1000 */
export const SWEEP_INTERVAL_MS = 1000

/**
 * A sweep this much later than its interval means this document was not running (a starved
 * renderer on a loaded machine): the time it missed is not counted against the members, whose
 * messages of that time are still queued behind the sweep's timer. @default 500
 */
export const SWEEP_STALL_MS = 500

/** A member that timed out and comes back with the same ECDH key within this long gets its last media key back. @default 60_000 */
export const REJOIN_KEY_MS = 60_000

/**
 * Signals kept per peer heard before its hello: an offerer's page can be quicker than its
 * node's hello reaches us, and the offer is not sent again. @default 16
 */
export const EARLY_SIGNALS_PER_PEER = 16

/** Forwarder links a call remembers for the page's byte reports (a few switches' worth). @default 8 */
export const MAX_FORWARDER_LINKS = 8

/** Why a member is no longer in the call. */
export type LeaveReason = 'bye' | 'timeout' | 'removed'

interface Member {
  info: ParticipantInfo
  ecdh: string
  wrapKey: Promise<CryptoKey>
  lastSeen: number
  /** When it was admitted (its hellos are answered at once for ANSWER_WINDOW_MS). */
  admittedAt: number
  /** Its hellos answered so far in that window (at most MAX_ANSWERS). */
  answers: number
  /** Hellos answered with our current media key (see KEY_SENDS_PER_MEMBER). */
  keySends: number
  /** The last media key id it sent us. */
  keyId?: number
  /** And that key, kept in case it times out and comes back (it sends each key only KEY_SENDS_PER_MEMBER times). */
  lastKey?: MediaKey
  /** Heard under an older room key version than ours since our last rekey: if it goes quiet, it was removed. */
  staleKey: boolean
  /** Since when its hellos have named a key id it never sent us (KEY_REQUEST_AFTER_MS). */
  keyMissingSince?: number
  /** When we last asked it for its key, and last answered its asking. */
  keyRequestedAt?: number
  keyRequestAnsweredAt?: number
}

/** This call's leg to a forwarder in the forwarded topology (forwarder-client.ts). */
export interface ForwarderLink {
  readonly forwarder: string
  /** The page's signalling for its RTCPeerConnection to the forwarder. */
  signal: (data: SignalData) => Promise<void>
  /** Bytes the page has received from the forwarder since joining (for receipts). */
  received: (totalBytes: number) => void
  /** The page's connection to the forwarder failed: pick another (or go back to mesh). */
  failed: () => void
}

/** Counters for tests and diagnostics. */
export interface RoomCallStats {
  /** Messages dropped: malformed, not opening, under another key version, or not addressed sensibly. */
  dropped: number
  /** Hellos of peers not admitted because the room was full. */
  refused: number
  /** Members asked for a media key they never sent us (`key-request`). */
  keyRequests: number
  members: number
  keyId: number
  kv: number
}

export interface RoomCallInit {
  callId: string
  origin: string
  room: RoomName
  roomId: string
  name: string
  media: MediaFlags
  self: string
  cipher: RoomCipher
  ecdh: EcdhKeyPair
  /** Publishes on the room's topic. */
  publish: (data: Uint8Array) => Promise<void>
  history: ChatHistory
  onEvent: (event: CallEvent) => void
  /** The call ended (left, removed, room full): the service forgets it. */
  onEnded: () => void
  iceServers: RTCIceServer[]
  maxParticipants: number
  gatedKeys?: GatedRoomKeys
  log: Logger
  now?: () => number
}

/** What a peer not admitted yet sent us: its signals and its newest media key, with when we first heard it. */
interface Early { at: number, bodies: SignalBody[], key?: KeyBody }

export class RoomCall {
  readonly id: string
  readonly origin: string
  readonly room: RoomName
  readonly roomId: string
  readonly self: string
  private readonly init: RoomCallInit
  private name: string
  private media: MediaFlags
  private cipher: RoomCipher
  private readonly joinedAt: number
  private readonly members = new Map<string, Member>()
  /** Peers heard but not admitted (room full): their join time, to tell whether this browser is the one too many. */
  private readonly waiting = new Map<string, { joinedAt: number, lastSeen: number }>()
  /** Signals and the newest media key from peers not admitted yet, used when they are; forgotten after PRESENCE_TIMEOUT_MS. */
  private readonly early = new Map<string, Early>()
  private ownKey: { keyId: number, key: Uint8Array }
  private state: CallState = 'connecting'
  private topology: CallTopology = 'mesh'
  private forwarder: string | null = null
  private link?: ForwarderLink
  /** The links this call used, current one last: the page still reports the bytes a left forwarder sent, and they are receipted too. */
  private readonly links = new Map<string, ForwarderLink>()
  private inbox: Promise<void> = Promise.resolve()
  private timers: Array<ReturnType<typeof setInterval>> = []
  private burstTimers: Array<ReturnType<typeof setTimeout>> = []
  private rotateTimer?: ReturnType<typeof setTimeout>
  private rekeyTimer?: ReturnType<typeof setTimeout>
  private answerTimer?: ReturnType<typeof setTimeout>
  private rekeyInFlight?: Promise<void>
  private lastRekeyAt = 0
  private lastHelloAt = 0
  private lastSweepAt = 0
  /** Members that timed out: their ECDH key and last media key, for when they are heard again. */
  private readonly timedOut = new Map<string, { ecdh: string, at: number, key?: MediaKey }>()
  private ended = false
  private readonly counters = { dropped: 0, refused: 0, keyRequests: 0 }

  constructor (init: RoomCallInit) {
    this.init = init
    this.id = init.callId
    this.origin = init.origin
    this.room = init.room
    this.roomId = init.roomId
    this.self = init.self
    this.name = init.name
    this.media = init.media
    this.cipher = init.cipher
    this.joinedAt = this.now()
    // a random first key id, so a rejoin's first key is not mistaken for a stale one by receivers
    this.ownKey = { keyId: crypto.getRandomValues(new Uint16Array(1))[0]!, key: crypto.getRandomValues(new Uint8Array(32)) }
  }

  private now (): number {
    return this.init.now?.() ?? Date.now()
  }

  /** What the page's join request answers. */
  async joinResult (): Promise<CallJoinResult> {
    return {
      callId: this.id,
      roomId: this.roomId,
      self: { peerId: this.self, name: this.name, joinedAt: this.joinedAt },
      participants: this.participants(),
      history: await this.init.history.list(this.origin, this.roomId),
      topology: this.topology,
      iceServers: this.init.iceServers,
      ownKey: mediaKey(this.ownKey)
    }
  }

  participants (): ParticipantInfo[] {
    return [...this.members.values()].map(m => ({ ...m.info }))
  }

  stats (): RoomCallStats {
    return { ...this.counters, members: this.members.size, keyId: this.ownKey.keyId, kv: this.cipher.kv }
  }

  get currentState (): CallState {
    return this.state
  }

  /** Starts presence and the membership sweep (and the key refresh of a gated room). */
  start (): void {
    this.timers.push(setInterval(() => { void this.sendHello() }, PRESENCE_INTERVAL_MS))
    this.lastSweepAt = this.now()
    // after what this document already received: a member's queued hello must count first
    this.timers.push(setInterval(() => { this.inbox = this.inbox.then(() => { this.sweep() }) }, SWEEP_INTERVAL_MS))
    if (this.gatedKeys !== undefined) this.timers.push(setInterval(() => { this.requestRekey(true) }, GATED_KEY_REFRESH_MS))
    const connected = (sent: boolean): void => { if (sent && !this.ended && this.state !== 'connected') this.setState('connected') }
    void this.sendHello().then(connected)
    // until a member answers, a few more hellos soon after the first (it may not have got through)
    for (const at of JOIN_HELLO_BURST_MS) {
      this.burstTimers.push(setTimeout(() => { if (this.members.size === 0) void this.sendHello().then(connected) }, at))
    }
  }

  /**
   * Another peer subscribed to the room's topic. While no member is heard, this is when a hello
   * first gets through (the relay now carries the topic), so one goes out at once rather than at
   * the next step of the join burst.
   */
  topicPeerJoined (): void {
    if (this.ended || this.members.size > 0) return
    this.answerHello()
  }

  private stopBurst (): void {
    for (const timer of this.burstTimers.splice(0)) clearTimeout(timer)
  }

  /** The network went down (a relay change restarts it): presence pauses, members are kept. */
  suspend (): void {
    if (this.ended) return
    this.stopTimers()
    this.setState('reconnecting')
  }

  /** The network is back with `publish` on the new libp2p. */
  resume (publish: (data: Uint8Array) => Promise<void>): void {
    if (this.ended) return
    this.init.publish = publish
    // members were unheard while we were away: give them a presence interval's grace
    const now = this.now()
    for (const member of this.members.values()) member.lastSeen = now
    this.state = 'connecting'
    this.start()
  }

  /** A message on the room's topic from peer `from` (signed by it). Handled in arrival order. */
  receive (from: string, data: Uint8Array): void {
    if (this.ended || from === this.self) return
    this.inbox = this.inbox.then(async () => { await this.handle(from, data) }).catch(err => { this.init.log.error('room message from %s: %e', from, err) })
  }

  /** Resolves when every message received so far is handled (tests). */
  async settled (): Promise<void> {
    await this.inbox
  }

  private drop (from: string, why: unknown): void {
    this.counters.dropped++
    this.init.log('dropped a room message from %s: %s', from, why instanceof Error ? why.message : String(why))
  }

  private async handle (from: string, data: Uint8Array): Promise<void> {
    if (this.ended) return
    let envelope
    try {
      envelope = parseEnvelope(data)
    } catch (err) {
      this.drop(from, err)
      return
    }
    if ('notice' in envelope) {
      // only a hint: the key service's answer decides; our own peer never counts (it would be an echo)
      if (this.gatedKeys !== undefined && envelope.kv > this.cipher.kv) this.requestRekey(false)
      else this.drop(from, `rekey notice for key version ${envelope.kv} in a room at ${this.cipher.kv}`)
      return
    }
    if (envelope.kv !== this.cipher.kv) {
      const member = this.members.get(from)
      if (envelope.kv < this.cipher.kv && member !== undefined) member.staleKey = true
      if (envelope.kv > this.cipher.kv && this.gatedKeys !== undefined) this.requestRekey(false)
      this.drop(from, `sealed under key version ${envelope.kv}, the room is at ${this.cipher.kv}`)
      return
    }
    let body: RoomBody | undefined
    try {
      body = await this.cipher.open(envelope)
    } catch (err) {
      this.drop(from, err)
      return
    }
    if (body === undefined || this.ended) return // a type a newer version knows
    const member = this.members.get(from)
    if (member !== undefined) {
      member.staleKey = false
      // whatever it sealed under the room key says it is there
      member.lastSeen = Math.max(member.lastSeen, this.now())
    }
    switch (body.type) {
      case 'hello': await this.hello(from, body); break
      case 'bye': if (member !== undefined) this.remove(from, 'bye'); break
      case 'signal': this.signalFrom(from, body); break
      case 'key': await this.keyFrom(from, body); break
      case 'key-request': await this.keyRequestFrom(from, body); break
    }
  }

  private async hello (from: string, body: HelloBody): Promise<void> {
    const now = this.now()
    const info: ParticipantInfo = { peerId: from, name: body.name, media: body.media, forwarder: body.forwarder, joinedAt: body.joinedAt }
    const known = this.members.get(from)
    if (known !== undefined) {
      known.lastSeen = now
      if (known.ecdh !== body.ecdh) {
        // it restarted (a new ECDH key): it needs our key again, wrapped to the new one
        known.ecdh = body.ecdh
        known.wrapKey = mediaWrapKey(this.init.ecdh.privateKey, body.ecdh, this.roomId)
        known.keySends = 0
        known.keyId = undefined
      }
      const changed = known.info.name !== info.name || known.info.forwarder !== info.forwarder || known.info.joinedAt !== info.joinedAt ||
        known.info.media.audio !== info.media.audio || known.info.media.video !== info.media.video || known.info.media.screen !== info.media.screen
      known.info = info
      if (changed) this.emit({ type: 'updated', participant: { ...info } })
      if (known.keySends < KEY_SENDS_PER_MEMBER) await this.sendKey(known)
      await this.checkKey(known, body.keyId, now)
      // a member we admitted a moment ago that still says hello has not heard ours yet
      if (now - known.admittedAt < ANSWER_WINDOW_MS && known.answers < MAX_ANSWERS) {
        known.answers++
        this.answerHello()
      }
      return
    }
    if (this.members.size + 1 >= this.init.maxParticipants) {
      if (this.waiting.has(from) || this.waiting.size < MAX_TRACKED_PEERS) this.waiting.set(from, { joinedAt: body.joinedAt, lastSeen: now })
      this.counters.refused++
      this.checkFull()
      return
    }
    if (this.members.size + this.waiting.size >= MAX_TRACKED_PEERS) return
    const wrapKey = mediaWrapKey(this.init.ecdh.privateKey, body.ecdh, this.roomId)
    try {
      await wrapKey
    } catch (err) {
      this.drop(from, err)
      return
    }
    if (this.ended || this.members.has(from)) return
    this.waiting.delete(from)
    const member: Member = { info, ecdh: body.ecdh, wrapKey, lastSeen: now, admittedAt: now, answers: 0, keySends: 0, staleKey: false }
    // it timed out here but never left (the same ECDH key): it will not send the key it already
    // sent twice again, so its page gets that key back
    const back = this.timedOut.get(from)
    this.timedOut.delete(from)
    const restored = back !== undefined && back.ecdh === body.ecdh && now - back.at < REJOIN_KEY_MS ? back.key : undefined
    if (restored !== undefined) {
      member.keyId = restored.keyId
      member.lastKey = restored
    }
    this.members.set(from, member)
    this.stopBurst()
    this.emit({ type: 'joined', participant: { ...info } })
    const early = this.early.get(from)
    this.early.delete(from)
    for (const signal of early?.bodies ?? []) this.emit({ type: 'signal', from, sid: signal.sid, data: signal.data as SignalData })
    if (restored !== undefined) this.emit({ type: 'media-key', peerId: from, key: { keyId: restored.keyId, key: restored.key.slice(0) } })
    // answer a newcomer now (or at the gap's end) rather than at our next presence tick: it
    // takes a key only from a member, and holds one that overtakes our hello until it comes
    this.answerHello()
    if (early?.key !== undefined) await this.keyFrom(from, early.key)
    await this.sendKey(member)
  }

  /** Asks `member` for its key when its hellos have named one we do not have for KEY_REQUEST_AFTER_MS. */
  private async checkKey (member: Member, keyId: number | undefined, now: number): Promise<void> {
    if (keyId === undefined || keyId === member.keyId) {
      member.keyMissingSince = undefined
      return
    }
    member.keyMissingSince ??= now
    if (now - member.keyMissingSince < KEY_REQUEST_AFTER_MS || now - (member.keyRequestedAt ?? -Infinity) < KEY_REQUEST_MIN_INTERVAL_MS) return
    member.keyRequestedAt = now
    this.counters.keyRequests++
    this.init.log('asking %s for its media key %d (the last we got: %s)', member.info.peerId, keyId, member.keyId ?? 'none')
    await this.publishBody({ type: 'key-request', to: member.info.peerId, keyId }).catch((err: unknown) => { this.init.log.error('could not ask %s for its key: %e', member.info.peerId, err) })
  }

  /** A member lacks our current key: it gets it again (at most once per KEY_REQUEST_MIN_INTERVAL_MS). */
  private async keyRequestFrom (from: string, body: KeyRequestBody): Promise<void> {
    if (body.to !== this.self) return
    const member = this.members.get(from)
    if (member === undefined) {
      this.drop(from, 'a key request from a peer that is not a member')
      return
    }
    const now = this.now()
    if (now - (member.keyRequestAnsweredAt ?? -Infinity) < KEY_REQUEST_MIN_INTERVAL_MS) return
    member.keyRequestAnsweredAt = now
    await this.sendKey(member)
  }

  /** This browser is the participant too many when the full room's members all joined before it. */
  private checkFull (): void {
    const self = { peerId: this.self, joinedAt: this.joinedAt }
    let before = 0
    for (const m of this.members.values()) if (joinedBefore(m.info, self)) before++
    for (const [peerId, { joinedAt }] of this.waiting) if (joinedBefore({ peerId, joinedAt }, self)) before++
    if (before >= this.init.maxParticipants) {
      const err = new CallLimitError(`the room is full: at most ${this.init.maxParticipants} participants`)
      void this.end('left', { code: err.code, reason: err.message })
    }
  }

  /** What is held for `from` until it is admitted (undefined: already MAX_TRACKED_PEERS others). */
  private heldFor (from: string): Early | undefined {
    const held = this.early.get(from) ?? (this.early.size < MAX_TRACKED_PEERS ? { at: this.now(), bodies: [] } : undefined)
    if (held !== undefined) this.early.set(from, held)
    return held
  }

  private signalFrom (from: string, body: SignalBody): void {
    if (body.to !== this.self) return // addressed to another member: every member hears every signal
    if (!this.members.has(from)) {
      // its hello may still be on the way: keep a few, for when it is admitted
      const held = this.heldFor(from)
      if (held === undefined || held.bodies.length >= EARLY_SIGNALS_PER_PEER) {
        this.drop(from, 'a signal from a peer that is not a member')
        return
      }
      held.bodies.push(body)
      return
    }
    this.emit({ type: 'signal', from, sid: body.sid, data: body.data as SignalData })
  }

  private async keyFrom (from: string, body: KeyBody): Promise<void> {
    if (body.to !== this.self) return
    const member = this.members.get(from)
    if (member === undefined) {
      const back = this.timedOut.get(from)
      if (back === undefined) {
        // its hello may still be on the way (gossipsub keeps no order between a sender's messages
        // over two relays): its newest key is kept for when it is admitted
        const held = this.heldFor(from)
        if (held === undefined) this.drop(from, 'a media key from a peer that is not a member')
        else held.key = body
        return
      }
      // it timed out here but not there: it will not send this key again, so it is kept for when it is heard again
      try {
        const key = await unwrapMediaKey(await mediaWrapKey(this.init.ecdh.privateKey, back.ecdh, this.roomId), body.wrapped, from, this.self, body.keyId)
        if (this.timedOut.get(from) === back) back.key = mediaKey({ keyId: body.keyId, key })
      } catch (err) {
        this.drop(from, err)
      }
      return
    }
    if (member.keyId === body.keyId) return // a repeat (it sends each key twice)
    let key: Uint8Array
    try {
      key = await unwrapMediaKey(await member.wrapKey, body.wrapped, from, this.self, body.keyId)
    } catch (err) {
      this.drop(from, err)
      return
    }
    if (this.ended || this.members.get(from) !== member) return
    const first = member.keyId === undefined
    member.keyId = body.keyId
    member.lastKey = mediaKey({ keyId: body.keyId, key })
    this.emit({ type: 'media-key', peerId: from, key: mediaKey({ keyId: body.keyId, key }) })
    // its first key says it has admitted us: ours, if it came before that, was dropped there
    // ("not a member"), so it gets ours once more now
    if (first && member.keySends > 0) await this.sendKey(member)
  }

  private sweep (): void {
    const now = this.now()
    const stalled = now - this.lastSweepAt - SWEEP_INTERVAL_MS
    this.lastSweepAt = now
    if (stalled > SWEEP_STALL_MS) {
      // this document was not running: what the members sent meanwhile is still queued
      for (const member of this.members.values()) member.lastSeen += stalled
      this.init.log('presence sweep %d ms late: not counted against the members', stalled)
    }
    for (const [peerId, member] of this.members) {
      if (now - member.lastSeen > PRESENCE_TIMEOUT_MS) this.remove(peerId, member.staleKey ? 'removed' : 'timeout')
    }
    for (const [peerId, peer] of this.waiting) if (now - peer.lastSeen > PRESENCE_TIMEOUT_MS) this.waiting.delete(peerId)
    for (const [peerId, held] of this.early) if (now - held.at > PRESENCE_TIMEOUT_MS) this.early.delete(peerId)
  }

  private remove (peerId: string, reason: LeaveReason): void {
    const member = this.members.get(peerId)
    if (member === undefined || !this.members.delete(peerId)) return
    if (reason === 'timeout') {
      this.timedOut.set(peerId, { ecdh: member.ecdh, at: this.now(), ...(member.lastKey === undefined ? {} : { key: member.lastKey }) })
      if (this.timedOut.size > MAX_TRACKED_PEERS) this.timedOut.delete(this.timedOut.keys().next().value as string)
    }
    this.emit({ type: 'left', peerId, reason })
    this.scheduleRotation()
  }

  /** A member left: the remaining ones get a new key of ours (one rotation for leaves close together). */
  private scheduleRotation (): void {
    if (this.rotateTimer !== undefined || this.ended) return
    this.rotateTimer = setTimeout(() => {
      this.rotateTimer = undefined
      void this.rotate()
    }, ROTATE_COALESCE_MS)
  }

  private async rotate (): Promise<void> {
    if (this.ended) return
    this.ownKey = { keyId: (this.ownKey.keyId + 1) & 0xffff, key: crypto.getRandomValues(new Uint8Array(32)) }
    for (const member of this.members.values()) member.keySends = 0
    const switchAt = this.now() + KEY_SWITCH_DELAY_MS
    this.emit({ type: 'own-key', key: mediaKey(this.ownKey), switchAt })
    await Promise.all([...this.members.values()].map(async member => { await this.sendKey(member) }))
  }

  private async sendKey (member: Member): Promise<void> {
    member.keySends++
    const { keyId, key } = this.ownKey
    try {
      const wrapped = await wrapMediaKey(await member.wrapKey, key, this.self, member.info.peerId, keyId)
      await this.publishBody({ type: 'key', to: member.info.peerId, keyId, wrapped })
    } catch (err) {
      this.init.log.error('could not send our media key to %s: %e', member.info.peerId, err)
    }
  }

  private async publishBody (body: RoomBody): Promise<void> {
    await this.init.publish(await this.cipher.seal(body))
  }

  /** Says hello now, or at the end of ANSWER_MIN_GAP_MS after the last one (one answers all that came meanwhile). */
  private answerHello (): void {
    if (this.ended || this.answerTimer !== undefined) return
    const wait = this.lastHelloAt + ANSWER_MIN_GAP_MS - this.now()
    if (wait <= 0) {
      void this.sendHello()
      return
    }
    this.answerTimer = setTimeout(() => { void this.sendHello() }, wait)
  }

  /** Publishes presence; false when it could not be sent (no network yet). */
  private async sendHello (): Promise<boolean> {
    if (this.ended) return false
    clearTimeout(this.answerTimer)
    this.answerTimer = undefined
    this.lastHelloAt = this.now()
    try {
      await this.publishBody({ type: 'hello', name: this.name, ecdh: this.init.ecdh.publicKey, joinedAt: this.joinedAt, forwarder: this.forwarder, media: this.media, keyId: this.ownKey.keyId })
      return true
    } catch (err) {
      this.init.log('presence not sent: %s', (err as Error).message)
      return false
    }
  }

  /** The page's signalling for member `to`. */
  async signal (to: string, sid: string, data: SignalData): Promise<void> {
    if (!this.members.has(to)) throw new InvalidParamsError(`${to} is not in this call`)
    await this.publishBody({ type: 'signal', to, sid, data })
  }

  async setMedia (media: MediaFlags): Promise<void> {
    this.media = media
    await this.sendHello()
  }

  /** Seals the page's chat text; the node keeps it in the history. */
  async seal (text: string): Promise<{ sealed: string, message: ChatMessage }> {
    const payload = { id: shortId(), from: this.self, name: this.name, at: this.now(), text }
    const sealed = await this.cipher.sealChat(payload)
    const message: ChatMessage = { ...payload, own: true }
    await this.init.history.add(this.origin, this.roomId, message)
    return { sealed, message }
  }

  /** Opens chat that arrived on the connection to `from`; refuses what does not open or names another sender. */
  async open (from: string, sealed: string): Promise<ChatMessage> {
    let payload
    try {
      payload = await this.cipher.openChat(sealed)
    } catch (err) {
      throw new InvalidParamsError(`a chat message from ${from} did not open: ${(err as Error).message}`, { cause: err })
    }
    if (payload.from !== from) throw new InvalidParamsError(`a chat message on ${from}'s connection names ${payload.from} as its sender`)
    const message: ChatMessage = { ...payload, own: false }
    await this.init.history.add(this.origin, this.roomId, message)
    return message
  }

  /** Sets the topology and forwarder this browser uses (presence names the forwarder). */
  setTopology (topology: CallTopology, forwarder: string | null): void {
    if (this.topology === topology && this.forwarder === forwarder) return
    this.topology = topology
    this.forwarder = forwarder
    this.emit({ type: 'topology', topology, forwarder })
    void this.sendHello()
  }

  /** Routes the page's forwarder signalling and stats to `link` (undefined: back to mesh). */
  useForwarder (link: ForwarderLink | undefined): void {
    this.link = link
    if (link !== undefined) {
      this.links.delete(link.forwarder)
      this.links.set(link.forwarder, link)
      if (this.links.size > MAX_FORWARDER_LINKS) this.links.delete(this.links.keys().next().value as string)
    }
    this.setTopology(link === undefined ? 'mesh' : 'forwarded', link?.forwarder ?? null)
  }

  async forwarderSignal (forwarder: string, data: SignalData): Promise<void> {
    if (this.link === undefined || this.link.forwarder !== forwarder) throw new InvalidParamsError(`this call is not attached to forwarder ${forwarder}`)
    await this.link.signal(data)
  }

  /** What the page measured: bytes per forwarder (each to the link it came over, a past one too), connections that failed (the current one acts on it). */
  pageStats (forwarderBytes: Record<string, number>, failed: string[]): void {
    for (const [forwarder, link] of this.links) {
      const bytes = forwarderBytes[forwarder]
      if (bytes !== undefined) link.received(bytes)
    }
    const link = this.link
    if (link !== undefined && failed.includes(link.forwarder)) link.failed()
  }

  get currentTopology (): { topology: CallTopology, forwarder: string | null } {
    return { topology: this.topology, forwarder: this.forwarder }
  }

  /** Pushes an event to the page (forwarder signalling and tracks come through here too). */
  emit (event: CallEvent): void {
    if (this.ended) return
    try {
      this.init.onEvent(event)
    } catch (err) {
      this.init.log.error('the page could not be told %s: %e', event.type, err)
    }
  }

  /**
   * A gated room's key again: on the timer (`periodic`) or a hint (a notice or a newer key
   * version heard), at most once per REKEY_MIN_INTERVAL_MS so peers cannot make us flood the service.
   */
  private requestRekey (periodic: boolean): void {
    if (this.gatedKeys === undefined || this.ended || this.rekeyInFlight !== undefined || this.rekeyTimer !== undefined) return
    const wait = this.lastRekeyAt + REKEY_MIN_INTERVAL_MS - this.now()
    if (wait > 0 && !periodic) {
      this.rekeyTimer = setTimeout(() => { this.rekeyTimer = undefined; this.requestRekey(false) }, wait)
      return
    }
    this.lastRekeyAt = this.now()
    this.rekeyInFlight = this.rekey().finally(() => { this.rekeyInFlight = undefined })
  }

  /** The key service, in a gated room only: an open room's key comes from its name and never changes. */
  private get gatedKeys (): GatedRoomKeys | undefined {
    return this.room.kind === 'gated' ? this.init.gatedKeys : undefined
  }

  private async rekey (): Promise<void> {
    const keys = this.gatedKeys
    if (keys === undefined || this.room.kind !== 'gated') return
    try {
      const { key, keyVersion } = await keys.key(this.room.contentId, { fresh: true })
      if (this.ended || keyVersion === this.cipher.kv) return
      this.cipher = await RoomCipher.create(key, this.roomId, keyVersion)
      for (const member of this.members.values()) member.staleKey = false
      this.init.log('room %s is now at key version %d', this.roomId, keyVersion)
      await this.sendHello()
    } catch (err) {
      if (isPeerloomError(err) && (err.code === ErrorCode.ACCESS_DENIED || err.code === ErrorCode.NOT_FOUND)) {
        await this.end('removed', { code: ErrorCode.ACCESS_DENIED, reason: err.message })
        return
      }
      // the key service being unreachable removes nobody: the next refresh tries again
      this.init.log.error('could not refresh the key of room %s: %e', this.roomId, err)
    }
  }

  /** Leaves the call: `bye` to the others (unless removed), timers stopped, the page told. */
  async end (state: 'left' | 'removed', detail: { code?: number, reason?: string } = {}): Promise<void> {
    if (this.ended) return
    if (state === 'left' && this.state !== 'reconnecting') await this.publishBody({ type: 'bye' }).catch(() => {})
    this.setState(state, detail)
    this.ended = true
    this.stopTimers()
    this.members.clear()
    this.waiting.clear()
    this.early.clear()
    this.init.onEnded()
  }

  get isEnded (): boolean {
    return this.ended
  }

  private setState (state: CallState, detail: { code?: number, reason?: string } = {}): void {
    if (this.state === state && detail.code === undefined) return
    this.state = state
    this.emit({ type: 'state', state, ...(detail.reason === undefined ? {} : { reason: detail.reason }), ...(detail.code === undefined ? {} : { code: detail.code }) })
  }

  private stopTimers (): void {
    for (const timer of this.timers.splice(0)) clearInterval(timer)
    this.stopBurst()
    clearTimeout(this.rotateTimer)
    this.rotateTimer = undefined
    clearTimeout(this.rekeyTimer)
    this.rekeyTimer = undefined
    clearTimeout(this.answerTimer)
    this.answerTimer = undefined
  }
}

function mediaKey (key: { keyId: number, key: Uint8Array }): MediaKey {
  return { keyId: key.keyId, key: key.key.slice().buffer }
}
