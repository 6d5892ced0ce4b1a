/**
 * One RTCPeerConnection of a call page: to another participant (mesh) or to a forwarder.
 * Signalling goes through the node (`signal`), applied in order; ICE candidates that arrive
 * before the remote description wait for it. The `chat` data channel is made by the offerer
 * and taken by the answerer in `ondatachannel`, where its `onmessage` is attached at once
 * (docs/PLATFORM.md: after an await, early messages are lost).
 */
import type { SignalData } from '@peerloom/shared/calls/api'
import { ENCODED_CONNECTION } from './call-e2ee.ts'

/** Chat messages a link holds for a channel that is not open yet. @default 64 */
const MAX_QUEUED_CHAT = 64

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
  private queue: Promise<void> = Promise.resolve()
  private closed = false
  /** Answers an offer; set by the owner, which adds its tracks between the two descriptions. */
  onOffer?: () => Promise<void>

  constructor (iceServers: RTCIceServer[], hooks: LinkHooks) {
    this.hooks = hooks
    this.pc = new RTCPeerConnection({ ...ENCODED_CONNECTION, iceServers })
    this.pc.onicecandidate = event => { if (!this.closed) hooks.signal({ candidate: event.candidate === null ? null : event.candidate.toJSON() }) }
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
      const offer = await this.pc.createOffer()
      await this.pc.setLocalDescription(offer)
      this.hooks.signal({ sdp: { type: 'offer', sdp: offer.sdp ?? '' } })
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
          const answer = await this.pc.createAnswer()
          await this.pc.setLocalDescription(answer)
          this.hooks.signal({ sdp: { type: 'answer', sdp: answer.sdp ?? '' } })
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
