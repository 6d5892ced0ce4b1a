/**
 * The page's handle on its call's E2EE worker: one worker per call, fed the call's media keys
 * and the encoded frame streams of every sender and receiver.
 *
 * Why `createEncodedStreams` on connections made with `encodedInsertableStreams: true`, not
 * `RTCRtpScriptTransform`: in Chromium 156 a script transform set on a sender after its
 * transceiver was negotiated (the answerer's, set after setRemoteDescription; or anyone's after
 * setLocalDescription) is silently not used, so its frames went out in the clear (measured:
 * 0 of ~230 frames through the worker). Encoded streams can be taken at any time before
 * media flows, and with them no frame can bypass the worker.
 */
import E2eeWorker from './e2ee-worker.ts?worker&inline'
import type { E2eeCommand, E2eeTransformOptions, ReceiveSource } from './e2ee-frames.ts'
import type { MediaKey } from '@peerloom/shared/calls/api'

type Kind = 'audio' | 'video'

/** Chromium's encoded streams of a sender or receiver (not in the DOM lib). */
interface EncodedEnd {
  createEncodedStreams: () => { readable: ReadableStream, writable: WritableStream }
}

/** Connections whose senders and receivers hand their encoded frames to the page. */
export const ENCODED_CONNECTION = { encodedInsertableStreams: true } as RTCConfiguration

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
    this.pipe(sender, { role: 'send', kind })
  }

  /** Opens what `receiver` receives with the key of the sender `source` names (once per receiver). */
  receiver (receiver: RTCRtpReceiver, source: { peerId: string } | { forwarder: string, mid: string }): void {
    const kind = receiver.track.kind === 'audio' ? 'audio' : 'video'
    this.pipe(receiver, { role: 'receive', kind, ...source } as ReceiveSource)
  }

  close (): void {
    this.worker.terminate()
  }

  private pipe (end: RTCRtpSender | RTCRtpReceiver, options: E2eeTransformOptions): void {
    if (this.attached.has(end)) return
    this.attached.add(end)
    const { readable, writable } = (end as unknown as EncodedEnd).createEncodedStreams()
    this.worker.postMessage({ type: 'streams', options, readable, writable }, [readable, writable])
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
