/**
 * The page's handle on its call's E2EE worker: one `RTCRtpScriptTransform` worker per call,
 * fed the call's media keys, attached to every sender and receiver before frames flow.
 */
import E2eeWorker from './e2ee-worker.ts?worker&inline'
import type { E2eeCommand, E2eeTransformOptions, ReceiveSource } from './e2ee-frames.ts'
import type { MediaKey } from '@peerloom/shared/calls/api'

type Kind = 'audio' | 'video'

export class CallE2ee {
  private readonly worker: Worker
  private readonly attached = new WeakSet<RTCRtpSender | RTCRtpReceiver>()

  constructor () {
    // the worker's source is bundled into this script and started from a Blob URL of the page's
    // own origin: a page cannot start a worker from the extension's origin
    this.worker = new E2eeWorker()
  }

  ownKey (key: MediaKey, switchAt?: number): void {
    this.post({ type: 'own-key', keyId: key.keyId, key: key.key, ...(switchAt === undefined ? {} : { switchAt }) })
  }

  peerKey (peerId: string, key: MediaKey): void {
    this.post({ type: 'peer-key', peerId, keyId: key.keyId, key: key.key })
  }

  mid (forwarder: string, mid: string, peerId: string): void {
    this.post({ type: 'mid', forwarder, mid, peerId })
  }

  peerLeft (peerId: string): void {
    this.post({ type: 'peer-left', peerId })
  }

  /** Seals what `sender` sends (once per sender). */
  sender (sender: RTCRtpSender, kind: Kind): void {
    if (this.attached.has(sender)) return
    this.attached.add(sender)
    sender.transform = new RTCRtpScriptTransform(this.worker, { role: 'send', kind } satisfies E2eeTransformOptions)
  }

  /** Opens what `receiver` receives with the key of the sender `source` names (once per receiver). */
  receiver (receiver: RTCRtpReceiver, source: Omit<ReceiveSource, 'kind' | 'role'>): void {
    if (this.attached.has(receiver)) return
    this.attached.add(receiver)
    const kind = receiver.track.kind === 'audio' ? 'audio' : 'video'
    receiver.transform = new RTCRtpScriptTransform(this.worker, { role: 'receive', kind, ...source } as E2eeTransformOptions)
  }

  close (): void {
    this.worker.terminate()
  }

  private post (command: E2eeCommand): void {
    // a copy, so the buffer the page keeps is not detached by the transfer
    if ('key' in command) {
      const key = command.key.slice(0)
      this.worker.postMessage({ ...command, key }, [key])
    } else {
      this.worker.postMessage(command)
    }
  }
}
