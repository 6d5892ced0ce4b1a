/**
 * One RTCPeerConnection of a call page: to another participant (mesh) or to a forwarder.
 * Signalling goes through the node (`signal`), applied in order; ICE candidates that arrive
 * before the remote description wait for it. A description goes out with the candidates of the
 * first gathering step (when ICE_GATHER_QUIET_MS pass without a new one, ICE_GATHER_WAIT_MS at
 * most) and only later ones follow on their own: each signal is a room message every relay
 * verifies, and Chromium gathers host UDP candidates within milliseconds but TCP ones a step
 * (about 100 ms) later, so a join's offer and answer carry the candidates that connect it.
 * The `chat` data channel is made by the offerer and taken by the answerer in `ondatachannel`,
 * where its `onmessage` is attached at once (docs/PLATFORM.md: after an await, early messages
 * are lost).
 */
import type { SignalData } from '@peerloom/shared/calls/api'
import { ENCODED_CONNECTION } from './call-e2ee.ts'

/** Chat messages a link holds for a channel that is not open yet. @default 64 */
const MAX_QUEUED_CHAT = 64
/** Longest wait for ICE gathering before a description is sent with the candidates it has. @default 200 */
export const ICE_GATHER_WAIT_MS = 200
/** A description is sent once this long has passed without a new candidate (after at least one). @default 25 */
export const ICE_GATHER_QUIET_MS = 25

export interface LinkHooks {
  signal: (data: SignalData) => void
  chat: (text: string) => void
  track: (event: RTCTrackEvent) => void
  /** The connection failed or closed on its own (not through `close()`). */
  failed: () => void
  connected: () => void
}

export class CallLink {
  readonly pc: RTCPeerConnection
  private readonly hooks: LinkHooks
  private chat: RTCDataChannel | null = null
  private readonly outbox: string[] = []
  private readonly earlyCandidates: RTCIceCandidateInit[] = []
  private hasRemote = false
  /** Whether a description went out: candidates gathered before it are in it. */
  private described = false
  private queue: Promise<void> = Promise.resolve()
  private closed = false
  /** Answers an offer; set by the owner, which adds its tracks between the two descriptions. */
  onOffer?: () => Promise<void>

  constructor (iceServers: RTCIceServer[], hooks: LinkHooks) {
    this.hooks = hooks
    this.pc = new RTCPeerConnection({ ...ENCODED_CONNECTION, iceServers })
    this.pc.onicecandidate = event => { if (!this.closed && this.described) hooks.signal({ candidate: event.candidate === null ? null : event.candidate.toJSON() }) }
    this.pc.ondatachannel = event => { if (event.channel.label === 'chat') this.useChat(event.channel) }
    this.pc.ontrack = event => { if (!this.closed) hooks.track(event) }
    this.pc.onconnectionstatechange = () => {
      if (this.closed) return
      const state = this.pc.connectionState
      if (state === 'connected') hooks.connected()
      else if (state === 'failed' || state === 'closed') hooks.failed()
    }
  }

  get connectionState (): RTCPeerConnectionState {
    return this.pc.connectionState
  }

  /** Opens the chat channel (the offerer's side). */
  openChat (): void {
    this.useChat(this.pc.createDataChannel('chat', { ordered: true }))
  }

  /** Makes and sends an offer. */
  async offer (): Promise<void> {
    await this.enqueue(async () => {
      await this.pc.setLocalDescription(await this.pc.createOffer())
      await this.describe('offer')
    })
  }

  /** Applies what the remote end signalled, after everything it signalled before. */
  async remote (data: SignalData): Promise<void> {
    await this.enqueue(async () => {
      if ('sdp' in data) {
        await this.pc.setRemoteDescription(data.sdp)
        this.hasRemote = true
        for (const candidate of this.earlyCandidates.splice(0)) await this.addCandidate(candidate)
        if (data.sdp.type === 'offer') {
          await this.onOffer?.()
          await this.pc.setLocalDescription(await this.pc.createAnswer())
          await this.describe('answer')
        }
      } else if (data.candidate !== null) {
        if (this.hasRemote) await this.addCandidate(data.candidate)
        else this.earlyCandidates.push(data.candidate)
      }
    })
  }

  /** Sends a chat payload now, or once the channel opens. */
  sendChat (text: string): void {
    if (this.chat?.readyState === 'open') this.chat.send(text)
    else if (this.outbox.length < MAX_QUEUED_CHAT) this.outbox.push(text)
  }

  /** Bytes received on this connection's transports so far. */
  async bytesReceived (): Promise<number> {
    let total = 0
    const report = await this.pc.getStats()
    report.forEach((stat: { type: string, bytesReceived?: number }) => {
      if (stat.type === 'transport' && typeof stat.bytesReceived === 'number') total += stat.bytesReceived
    })
    return total
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.chat?.close()
    this.pc.close()
  }

  private useChat (channel: RTCDataChannel): void {
    this.chat = channel
    channel.onmessage = event => { if (typeof event.data === 'string' && !this.closed) this.hooks.chat(event.data) }
    channel.onopen = () => {
      for (const text of this.outbox.splice(0)) channel.send(text)
    }
  }

  /** Signals the local description after the first gathering step (see the file's comment). */
  private async describe (type: 'offer' | 'answer'): Promise<void> {
    const pc = this.pc
    if (!this.described && pc.iceGatheringState !== 'complete') {
      await new Promise<void>(resolve => {
        let quiet: ReturnType<typeof setTimeout> | undefined
        const done = (): void => {
          clearTimeout(timer)
          clearTimeout(quiet)
          pc.removeEventListener('icegatheringstatechange', check)
          pc.removeEventListener('icecandidate', gathered)
          resolve()
        }
        const check = (): void => { if (pc.iceGatheringState === 'complete') done() }
        const gathered = (): void => {
          clearTimeout(quiet)
          quiet = setTimeout(done, ICE_GATHER_QUIET_MS)
        }
        const timer = setTimeout(done, ICE_GATHER_WAIT_MS)
        pc.addEventListener('icegatheringstatechange', check)
        pc.addEventListener('icecandidate', gathered)
        // candidates surfaced before this listener are in the description already
        if (pc.localDescription?.sdp.includes('\na=candidate:') === true) gathered()
      })
    }
    if (this.closed) return
    this.described = true
    this.hooks.signal({ sdp: { type, sdp: pc.localDescription?.sdp ?? '' } })
  }

  private async addCandidate (candidate: RTCIceCandidateInit): Promise<void> {
    // a candidate the browser cannot use (another network, a stale generation) is not fatal
    await this.pc.addIceCandidate(candidate).catch(() => {})
  }

  private async enqueue (step: () => Promise<void>): Promise<void> {
    const run = this.queue.then(async () => { if (!this.closed) await step() })
    this.queue = run.catch(() => {})
    await run
  }
}
