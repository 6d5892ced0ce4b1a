/**
 * What the call's E2EE worker does to each encoded frame (docs/CALLS.md, "Media frames"):
 * seals outgoing frames with this participant's media key and opens incoming ones with their
 * sender's. Plain code over `frame.ts`, so unit tests drive it without a browser; the worker
 * (`e2ee-worker.ts`) only wires it to `RTCRtpScriptTransform`.
 */
import { FrameSealer, frameKeyId, importMediaKey, openFrame } from '@peerloom/shared/calls/frame'
import type { FrameKind } from '@peerloom/shared/calls/frame'

/** How long a receiver keeps a sender's previous key after a new one arrives. @default 5000 */
export const OLD_KEY_GRACE_MS = 5000

/** Page → worker. Keys are raw 32-byte AES-256-GCM keys. */
export type E2eeCommand =
  /** This participant's key; `switchAt` (ms since the epoch) delays using it, so receivers have it first. */
  | { type: 'own-key', keyId: number, key: ArrayBuffer, switchAt?: number }
  | { type: 'peer-key', peerId: string, keyId: number, key: ArrayBuffer }
  /** A forwarder connection's transceiver `mid` carries `peerId`'s media. */
  | { type: 'mid', forwarder: string, mid: string, peerId: string }
  | { type: 'peer-left', peerId: string }

/** The options each `RTCRtpScriptTransform` of the call is made with. */
export type E2eeTransformOptions =
  | { role: 'send', kind: 'audio' | 'video' }
  | { role: 'receive', kind: 'audio' | 'video', peerId: string }
  | { role: 'receive', kind: 'audio' | 'video', forwarder: string, mid: string }

export type ReceiveSource = Extract<E2eeTransformOptions, { role: 'receive' }>

/** The clear-bytes rule a frame falls under: video frames by their type, audio all alike. */
export function frameKind (kind: 'audio' | 'video', videoType: string | undefined): FrameKind {
  if (kind === 'audio') return 'audio'
  return videoType === 'key' ? 'key' : 'delta'
}

interface HeldKey { key: CryptoKey, until: number }

/** Keys of one call and the frames they seal and open. */
export class CallFrameCrypto {
  private sealer: FrameSealer | null = null
  private next: { sealer: FrameSealer, at: number } | null = null
  private readonly peers = new Map<string, Map<number, HeldKey>>()
  private readonly mids = new Map<string, string>()
  private readonly now: () => number
  /** Frames dropped since start, for the page's diagnostics. */
  dropped = 0

  constructor (options: { now?: () => number } = {}) {
    this.now = options.now ?? Date.now
  }

  /** Applies a page command; resolves once its key is usable. Returns the peer whose keys changed, if any. */
  async command (command: E2eeCommand): Promise<string | null> {
    switch (command.type) {
      case 'own-key': {
        const sealer = new FrameSealer(command.keyId, await importMediaKey(command.key))
        const at = command.switchAt ?? 0
        if (this.sealer === null || at <= this.now()) {
          this.sealer = sealer
          this.next = null
        } else {
          this.next = { sealer, at }
        }
        return null
      }
      case 'peer-key': {
        const key = await importMediaKey(command.key)
        const keys = this.peers.get(command.peerId) ?? new Map<number, HeldKey>()
        const until = this.now() + OLD_KEY_GRACE_MS
        for (const [keyId, held] of keys) {
          if (keyId !== command.keyId) held.until = Math.min(held.until, until)
        }
        keys.set(command.keyId, { key, until: Infinity })
        this.peers.set(command.peerId, keys)
        return command.peerId
      }
      case 'mid':
        this.mids.set(`${command.forwarder}\n${command.mid}`, command.peerId)
        return command.peerId
      case 'peer-left':
        this.peers.delete(command.peerId)
        return null
    }
  }

  /** The sender a receive transform hears, or null while a forwarder has not named it. */
  senderOf (source: ReceiveSource): string | null {
    return 'peerId' in source ? source.peerId : this.mids.get(`${source.forwarder}\n${source.mid}`) ?? null
  }

  /** Seals an outgoing frame; null (drop it) before this participant has a key. */
  async seal (data: ArrayBuffer, kind: FrameKind): Promise<ArrayBuffer | null> {
    if (this.next !== null && this.next.at <= this.now()) {
      this.sealer = this.next.sealer
      this.next = null
    }
    if (this.sealer === null) {
      this.dropped++
      return null
    }
    return (await this.sealer.seal(new Uint8Array(data), kind)).buffer as ArrayBuffer
  }

  /** Opens an incoming frame with its sender's key; null (drop it) when it does not open. */
  async open (source: ReceiveSource, data: ArrayBuffer, kind: FrameKind): Promise<ArrayBuffer | null> {
    const sealed = new Uint8Array(data)
    const keyId = frameKeyId(sealed)
    const peerId = this.senderOf(source)
    const held = keyId === null || peerId === null ? undefined : this.peers.get(peerId)?.get(keyId)
    if (held === undefined || held.until < this.now()) {
      this.dropped++
      return null
    }
    try {
      return (await openFrame(held.key, sealed, kind)).buffer as ArrayBuffer
    } catch {
      this.dropped++
      return null
    }
  }
}
