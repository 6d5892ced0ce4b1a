/**
 * What the forwarder's document and its transform worker say to each other (structured clone
 * over `postMessage`), and the few WebRTC encoded-transform types TypeScript's DOM library
 * does not have yet.
 */

/** An encoded audio or video frame as encoded transforms hand it over (RTCEncodedVideoFrame / RTCEncodedAudioFrame). */
export interface EncodedFrame {
  data: ArrayBuffer
  /** Video only: `key` for a key frame. */
  readonly type?: 'key' | 'delta' | 'empty'
}

/** The worker side of an RTCRtpScriptTransform (RTCRtpScriptTransformer). */
export interface ScriptTransformer {
  readonly readable: ReadableStream<EncodedFrame>
  readonly writable: WritableStream<EncodedFrame>
  readonly options: unknown
  /** Asks the remote sender for a key frame (receiver side only). */
  sendKeyFrameRequest?: () => Promise<void>
}

/** The options the document passes to `new RTCRtpScriptTransform(worker, options)` for an inbound track. */
export interface InboundOptions {
  source: string
  kind: 'audio' | 'video'
}

/** Document → worker. */
export type RelayCommand =
  /** `writable` (a track-less sender's legacy encoded stream) takes the frames of `source` once `ready` says it can send. */
  | { type: 'subscribe', source: string, sink: string, kind: 'audio' | 'video', writable: WritableStream<EncodedFrame> }
  /** The sink's sender is negotiated and its connection is up: write from the next key frame on, and ask for one now. */
  | { type: 'ready', sink: string }
  | { type: 'unsubscribe', sink: string }
  /** A subscriber lost frames or joined: ask the sender of `source` for a key frame. */
  | { type: 'keyframe', source: string }
  /** The upload cap over all sinks, bytes per second. */
  | { type: 'rate', bytesPerSec: number }
  | { type: 'stats', id: number }
  /** SHA-256 digests (hex) of the next `count` frames of `source`, as they arrived: what tests compare with the sender's; `raw`: the frames themselves too. */
  | { type: 'sample', id: number, source: string, count: number, raw?: boolean }

/** A frame as it reached the forwarder, for tests that check it is the sender's ciphertext. */
export interface SampledFrame {
  data: ArrayBuffer
  /** Video: `key` or `delta`. */
  type?: string
}

export interface SourceCounters {
  frames: number
  bytes: number
  keyFrames: number
}

export interface SinkCounters {
  frames: number
  bytes: number
  /** Frames not written because they were over the upload cap. */
  dropped: number
  /** Frames not written while the sink could not send yet or (video) waited for a key frame after it could, or after a drop. */
  skipped: number
}

/** Worker → document. */
export type RelayReport =
  | { type: 'stats', id: number, sources: Record<string, SourceCounters>, sinks: Record<string, SinkCounters> }
  | { type: 'sample', id: number, digests: string[], frames?: SampledFrame[] }
  /** An inbound track's frames ended (its connection or transceiver closed). */
  | { type: 'source-ended', source: string }
  | { type: 'error', message: string }
