/**
 * The call's E2EE worker: one per call, made by the page (`call-e2ee.ts`) from this file
 * bundled inline. Every sender and receiver of the call's connections hands it its encoded
 * frame streams (`createEncodedStreams`), which it pipes through the frame cipher.
 */
import { CallFrameCrypto, frameKind } from './e2ee-frames.ts'
import type { E2eeCommand, E2eeTransformOptions } from './e2ee-frames.ts'

type EncodedFrame = RTCEncodedVideoFrame | RTCEncodedAudioFrame

/** One sender's or receiver's encoded frames, transferred from the page; a receiver that dropped frames recovers at the next key frame its decoder asks for. */
interface FrameStreams {
  type: 'streams'
  options: E2eeTransformOptions
  readable: ReadableStream<EncodedFrame>
  writable: WritableStream<EncodedFrame>
}

interface E2eeWorkerScope {
  onmessage: ((event: MessageEvent<E2eeCommand | FrameStreams>) => void) | null
}

declare const self: E2eeWorkerScope

const crypto = new CallFrameCrypto()
self.onmessage = event => {
  const message = event.data
  if (message.type === 'streams') {
    pipe(message)
    return
  }
  crypto.command(message).catch(() => {
    // a malformed key from the page: the frames it would open are dropped
  })
}

function pipe ({ options, readable, writable }: FrameStreams): void {
  const transform = new TransformStream<EncodedFrame, EncodedFrame>({
    transform: async (frame, controller) => {
      if (frame.data.byteLength === 0) {
        controller.enqueue(frame)
        return
      }
      const kind = frameKind(options.kind, (frame as RTCEncodedVideoFrame).type)
      const out = options.role === 'send' ? await crypto.seal(frame.data, kind) : await crypto.open(options, frame.data, kind)
      // a frame that does not seal or open is dropped, never passed on in the clear
      if (out === null) return
      frame.data = out
      controller.enqueue(frame)
    }
  })
  readable.pipeThrough(transform).pipeTo(writable).catch(() => {
    // the connection closed
  })
}
