/**
 * The forwarder's transform worker (docs/PLATFORM.md, Calls): each inbound track arrives here
 * through an RTCRtpScriptTransform on its receiver; each of its subscribers is a track-less
 * sender on another connection whose legacy encoded stream the document transferred here. A
 * frame is copied, byte for byte, into every subscriber: it is the sender's E2EE ciphertext and
 * is never decoded. The forwarder's own video decoder gets a 16×16 VP8 key frame instead, so
 * it decodes almost nothing and never asks the sender for key frames of its own.
 */
import type { EncodedFrame, InboundOptions, RelayCommand, RelayReport, ScriptTransformer, SinkCounters, SourceCounters } from './relay-protocol.ts'

/** Key frame requests to one sender are at most this often (a subscriber's PLIs come in bursts). */
const KEYFRAME_REQUEST_MIN_INTERVAL_MS = 300

/** The worker global this module needs (a DedicatedWorkerGlobalScope). */
export interface RelayScope {
  postMessage: (message: RelayReport) => void
  addEventListener: (type: 'message' | 'rtctransform', listener: (event: any) => void) => void
}

interface Sink {
  key: string
  kind: 'audio' | 'video'
  writer: WritableStreamDefaultWriter<EncodedFrame>
  /** The sender can send: before that its connection would drop what is written, the key frame included. */
  ready: boolean
  /** Video: nothing is written before a key frame, or the subscriber's decoder would ask for one. */
  awaitingKey: boolean
  counters: SinkCounters
}

interface Source {
  key: string
  kind: 'audio' | 'video'
  transformer?: ScriptTransformer
  lastKeyRequest: number
  counters: SourceCounters
  samples: Array<{ id: number, left: number, raw: boolean, frames: ArrayBuffer[], types: Array<string | undefined> }>
}

type FrameConstructor = new (frame: EncodedFrame) => EncodedFrame

/** A copy of `frame` another sender can take: the encoded-frame constructors copy data and metadata. */
function copyFrame (frame: EncodedFrame, kind: 'audio' | 'video'): EncodedFrame {
  const scope = globalThis as unknown as { RTCEncodedVideoFrame: FrameConstructor, RTCEncodedAudioFrame: FrameConstructor }
  return new (kind === 'video' ? scope.RTCEncodedVideoFrame : scope.RTCEncodedAudioFrame)(frame)
}

/** One 16×16 VP8 key frame from the browser's own encoder: a valid picture that costs the forwarder's decoder next to nothing. */
export async function tinyVp8KeyFrame (): Promise<ArrayBuffer> {
  let resolve!: (bytes: ArrayBuffer) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<ArrayBuffer>((resolve_, reject_) => { resolve = resolve_; reject = reject_ })
  const encoder = new VideoEncoder({
    output: chunk => {
      const bytes = new ArrayBuffer(chunk.byteLength)
      chunk.copyTo(bytes)
      resolve(bytes)
    },
    error: reject
  })
  encoder.configure({ codec: 'vp8', width: 16, height: 16 })
  const frame = new VideoFrame(new Uint8Array(16 * 16 * 3 / 2).fill(128), { format: 'I420', codedWidth: 16, codedHeight: 16, timestamp: 0 })
  encoder.encode(frame, { keyFrame: true })
  frame.close()
  await encoder.flush()
  encoder.close()
  return await promise
}

/** Token bucket over every sink's bytes: the donor's upload cap, with one second of burst. */
class UploadBucket {
  private rate = Number.POSITIVE_INFINITY
  private tokens = 0
  private at = 0

  setRate (bytesPerSec: number): void {
    this.rate = bytesPerSec
    this.tokens = Math.min(this.tokens, bytesPerSec)
  }

  take (bytes: number, now: number): boolean {
    if (!Number.isFinite(this.rate)) return true
    this.tokens = Math.min(this.rate, this.tokens + (now - this.at) * this.rate / 1000)
    this.at = now
    if (this.tokens < bytes) return false
    this.tokens -= bytes
    return true
  }
}

async function sha256Hex (bytes: ArrayBuffer): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
  return Array.from(digest, b => b.toString(16).padStart(2, '0')).join('')
}

/** Runs the relay in a worker: answers the document's commands and pumps every inbound track. */
export function runFrameRelay (scope: RelayScope): void {
  const sources = new Map<string, Source>()
  /** Sinks by source key; a sink may come before its source's transform event. */
  const sinksBySource = new Map<string, Map<string, Sink>>()
  const sinkSource = new Map<string, string>()
  /** Counters of sinks removed since the last stats report, so the document loses no forwarded bytes. */
  let retired: Record<string, SinkCounters> = {}
  const bucket = new UploadBucket()
  let tiny: ArrayBuffer | undefined
  tinyVp8KeyFrame().then(bytes => { tiny = bytes }, (err: unknown) => {
    scope.postMessage({ type: 'error', message: `no VP8 encoder for the forwarder's placeholder frame: ${String(err)}` })
  })

  const sourceFor = (key: string, kind: 'audio' | 'video'): Source => {
    let source = sources.get(key)
    if (source === undefined) {
      source = { key, kind, lastKeyRequest: 0, counters: { frames: 0, bytes: 0, keyFrames: 0 }, samples: [] }
      sources.set(key, source)
    }
    return source
  }

  const requestKeyFrame = (source: Source, force = false): void => {
    const now = performance.now()
    if (source.kind !== 'video' || source.transformer?.sendKeyFrameRequest === undefined || (!force && now - source.lastKeyRequest < KEYFRAME_REQUEST_MIN_INTERVAL_MS)) return
    source.lastKeyRequest = now
    // rejects while the receiver has no sender yet; the next request (a PLI, a new subscriber) retries
    source.transformer.sendKeyFrameRequest().catch(() => {})
  }

  const removeSink = (key: string): void => {
    const sourceKey = sinkSource.get(key)
    if (sourceKey === undefined) return
    sinkSource.delete(key)
    const sinks = sinksBySource.get(sourceKey)
    const sink = sinks?.get(key)
    sinks?.delete(key)
    if (sinks?.size === 0) sinksBySource.delete(sourceKey)
    if (sink === undefined) return
    retired[key] = sink.counters
    sink.writer.close().catch(() => {})
  }

  const forward = (source: Source, frame: EncodedFrame, now: number): void => {
    const sinks = sinksBySource.get(source.key)
    if (sinks === undefined) return
    const bytes = frame.data.byteLength
    const key = frame.type === 'key'
    for (const sink of sinks.values()) {
      if (!sink.ready) {
        sink.counters.skipped++
        continue
      }
      if (sink.awaitingKey) {
        if (!key) {
          sink.counters.skipped++
          // the request (or its key frame) may have been lost: ask again, throttled, until one comes
          requestKeyFrame(source)
          continue
        }
        sink.awaitingKey = false
      }
      if (!bucket.take(bytes, now)) {
        sink.counters.dropped++
        // a dropped video frame breaks the chain of references: wait for (and ask for) the next key frame
        if (sink.kind === 'video') { sink.awaitingKey = true; requestKeyFrame(source) }
        continue
      }
      sink.counters.frames++
      sink.counters.bytes += bytes
      sink.writer.write(copyFrame(frame, source.kind)).catch(() => { removeSink(sink.key) })
    }
  }

  const sample = (source: Source, frame: EncodedFrame): void => {
    for (const pending of source.samples) {
      pending.frames.push(frame.data.slice(0))
      pending.types.push(frame.type)
      if (--pending.left > 0) continue
      source.samples = source.samples.filter(p => p !== pending)
      Promise.all(pending.frames.map(sha256Hex)).then(digests => {
        const frames = pending.raw ? pending.frames.map((data, i) => ({ data, ...(pending.types[i] === undefined ? {} : { type: pending.types[i] }) })) : undefined
        scope.postMessage({ type: 'sample', id: pending.id, digests, ...(frames === undefined ? {} : { frames }) })
      }, () => {})
    }
  }

  const pump = async (source: Source, transformer: ScriptTransformer): Promise<void> => {
    const reader = transformer.readable.getReader()
    const local = transformer.writable.getWriter()
    for (;;) {
      const { value: frame, done } = await reader.read()
      if (done) break
      const now = performance.now()
      source.counters.frames++
      source.counters.bytes += frame.data.byteLength
      if (frame.type === 'key') source.counters.keyFrames++
      if (source.samples.length > 0) sample(source, frame)
      forward(source, frame, now)
      // the forwarder's own receiver: video gets the placeholder (a valid key frame), audio nothing
      if (source.kind === 'video' && tiny !== undefined) {
        frame.data = tiny.slice(0)
        local.write(frame).catch(() => {})
      }
    }
  }

  scope.addEventListener('rtctransform', (event: { transformer: ScriptTransformer }) => {
    const { transformer } = event
    const options = transformer.options as InboundOptions
    const source = sourceFor(options.source, options.kind)
    source.transformer = transformer
    if ([...sinksBySource.get(source.key)?.values() ?? []].some(sink => sink.ready)) requestKeyFrame(source, true)
    pump(source, transformer).catch(() => {}).finally(() => {
      sources.delete(source.key)
      scope.postMessage({ type: 'source-ended', source: source.key })
    })
  })

  scope.addEventListener('message', (event: { data: RelayCommand }) => {
    const command = event.data
    switch (command.type) {
      case 'subscribe': {
        removeSink(command.sink)
        let sinks = sinksBySource.get(command.source)
        if (sinks === undefined) { sinks = new Map(); sinksBySource.set(command.source, sinks) }
        sinks.set(command.sink, { key: command.sink, kind: command.kind, writer: command.writable.getWriter(), ready: false, awaitingKey: command.kind === 'video', counters: { frames: 0, bytes: 0, dropped: 0, skipped: 0 } })
        sinkSource.set(command.sink, command.source)
        break
      }
      case 'ready': {
        const sourceKey = sinkSource.get(command.sink)
        const sink = sourceKey === undefined ? undefined : sinksBySource.get(sourceKey)?.get(command.sink)
        if (sink === undefined || sink.ready) break
        sink.ready = true
        sink.awaitingKey = sink.kind === 'video'
        // a key frame asked for earlier went out before this sender could carry it: ask now, past the throttle
        const source = sources.get(sourceKey!)
        if (source !== undefined) requestKeyFrame(source, true)
        break
      }
      case 'unsubscribe':
        removeSink(command.sink)
        break
      case 'keyframe': {
        const source = sources.get(command.source)
        if (source !== undefined) requestKeyFrame(source)
        break
      }
      case 'rate':
        bucket.setRate(command.bytesPerSec)
        break
      case 'stats': {
        const sourceCounters: Record<string, SourceCounters> = {}
        for (const source of sources.values()) sourceCounters[source.key] = { ...source.counters }
        const sinkCounters: Record<string, SinkCounters> = retired
        retired = {}
        for (const sinks of sinksBySource.values()) for (const sink of sinks.values()) sinkCounters[sink.key] = { ...sink.counters }
        scope.postMessage({ type: 'stats', id: command.id, sources: sourceCounters, sinks: sinkCounters })
        break
      }
      case 'sample': {
        const source = sources.get(command.source)
        if (source === undefined || command.count < 1) scope.postMessage({ type: 'sample', id: command.id, digests: [] })
        else source.samples.push({ id: command.id, left: command.count, raw: command.raw === true, frames: [], types: [] })
        break
      }
    }
  })
}
