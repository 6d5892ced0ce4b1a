/**
 * The call's E2EE worker: one per call, made by the page (`call-media.ts`) from this file
 * bundled inline, since a media track cannot leave the page (docs/PLATFORM.md, Calls). Every
 * sender and receiver of the call's connections runs its encoded frames through here.
 */
import { CallFrameCrypto, frameKind } from './e2ee-frames.ts'
import type { E2eeCommand, E2eeTransformOptions, ReceiveSource } from './e2ee-frames.ts'

type EncodedFrame = RTCEncodedVideoFrame | RTCEncodedAudioFrame

/**
 * The worker side of an `RTCRtpScriptTransform` (the DOM lib this package compiles with lacks
 * the worker's types); `sendKeyFrameRequest` asks the remote sender for a key frame.
 */
interface Receiver {
  readonly options: unknown
  readonly readable: ReadableStream<EncodedFrame>
  readonly writable: WritableStream<EncodedFrame>
  sendKeyFrameRequest?: () => Promise<void>
}

interface E2eeWorkerScope {
  onmessage: ((event: MessageEvent<E2eeCommand>) => void) | null
  onrtctransform: ((event: { transformer: Receiver }) => void) | null
}

declare const self: E2eeWorkerScope

const crypto = new CallFrameCrypto()
/** Receivers that dropped frames since their last opened one: they need a key frame once a key arrives. */
const starving = new Map<Receiver, ReceiveSource>()

self.onmessage = event => {
  crypto.command(event.data).then(peerId => {
    if (peerId === null) return
    for (const [receiver, source] of starving) {
      if (crypto.senderOf(source) !== peerId) continue
      starving.delete(receiver)
      receiver.sendKeyFrameRequest?.().catch(() => {})
    }
  }, () => {
    // a malformed key from the page: the frames it would open are dropped
  })
}

self.onrtctransform = event => {
  const transformer = event.transformer
  const options = transformer.options as E2eeTransformOptions
  const transform = new TransformStream<EncodedFrame, EncodedFrame>({
    transform: async (frame, controller) => {
      if (frame.data.byteLength === 0) {
        controller.enqueue(frame)
        return
      }
      const kind = frameKind(options.kind, (frame as RTCEncodedVideoFrame).type)
      const out = options.role === 'send' ? await crypto.seal(frame.data, kind) : await crypto.open(options, frame.data, kind)
      if (out === null) {
        if (options.role === 'receive') starving.set(transformer, options)
        return
      }
      if (options.role === 'receive') starving.delete(transformer)
      frame.data = out
      controller.enqueue(frame)
    }
  })
  transformer.readable.pipeThrough(transform).pipeTo(transformer.writable).catch(() => {
    // the connection closed
  }).finally(() => { starving.delete(transformer) })
}
