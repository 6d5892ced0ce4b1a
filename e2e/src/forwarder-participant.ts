/**
 * The forwarder harness's participant page: the fake camera and microphone sent up to the
 * forwarder the way CALLS.md says a page does (answer every offer; the first offer's audio and
 * video transceivers carry this page's tracks), and every track the forwarder sends down
 * played in a <video> whose decoded frames are counted per sender (`tracks` names them).
 */
import type { TransformOptions } from './forwarder-participant-worker.ts'

type Signal = { sdp: { type: 'offer' | 'answer', sdp: string } } | { candidate: RTCIceCandidateInit | null }
type FromForwarder = { type: 'signal', data: Signal } | { type: 'tracks', mids: Record<string, string> }

interface Recorded { sent: string[], plain: string[], received: Record<string, string[]>, latency: Record<string, number[]> }

declare global {
  interface Window {
    ptSend: (message: FromForwarder) => Promise<void>
    participant: ParticipantPage
  }
}

interface ParticipantPage {
  start: (options: { encrypt: boolean, stamp: boolean }) => Promise<void>
  receive: (message: FromForwarder) => Promise<void>
  /** Frames decoded so far per sender peer id. */
  decoded: Record<string, number>
  /** Which sender each live mid carries, as the forwarder said. */
  mids: () => Record<string, string>
  recorded: () => Promise<Recorded>
  /** Benchmark baseline: this page offers a direct page-to-page connection, no forwarder between. */
  offerDirect: (self: string, remote: string) => Promise<void>
  /** Bytes received on the connection (inbound-rtp), what a receipt would cover. */
  bytesReceived: () => Promise<number>
  stop: () => void
}

let pc: RTCPeerConnection | undefined
let stream: MediaStream | undefined
let mids: Record<string, string> = {}
let options: { encrypt: boolean, stamp: boolean } = { encrypt: false, stamp: false }
let upstreamSet = false
const decoded: Record<string, number> = {}
const worker = new Worker('/participant-worker.js')
type ScriptTransformCtor = new (worker: Worker, options: TransformOptions) => object
const Transform = (globalThis as unknown as { RTCRtpScriptTransform: ScriptTransformCtor }).RTCRtpScriptTransform

function countFrames (video: HTMLVideoElement, mid: string): void {
  const tick = (): void => {
    const origin = mids[mid]
    if (origin !== undefined) decoded[origin] = (decoded[origin] ?? 0) + 1
    video.requestVideoFrameCallback(tick)
  }
  video.requestVideoFrameCallback(tick)
}

/** The first offer's audio and video transceivers carry this page's own tracks. */
function setUpstream (connection: RTCPeerConnection): void {
  if (upstreamSet || stream === undefined) return
  upstreamSet = true
  for (const kind of ['audio', 'video'] as const) {
    const transceiver = connection.getTransceivers().find(t => t.receiver.track.kind === kind)
    const track = stream.getTracks().find(t => t.kind === kind)
    if (transceiver === undefined || track === undefined) continue
    // a forwarder's upstream m-line is recvonly at its end; a direct peer (benchmarks) also sends on it
    transceiver.direction = transceiver.mid !== null && mids[transceiver.mid] !== undefined ? 'sendrecv' : 'sendonly'
    void transceiver.sender.replaceTrack(track)
    ;(transceiver.sender as unknown as { transform: object }).transform = new Transform(worker, { role: 'send', kind, ...options, id: 'self' })
  }
}

window.participant = {
  decoded,
  mids: () => ({ ...mids }),
  async start (opts) {
    options = { encrypt: opts.encrypt, stamp: opts.stamp }
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240, frameRate: 30 }, audio: true })
    pc = new RTCPeerConnection({ iceServers: [] })
    pc.onicecandidate = event => { void window.ptSend({ type: 'signal', data: { candidate: event.candidate?.toJSON() ?? null } }) }
    pc.ontrack = event => {
      const mid = event.transceiver.mid as string
      ;(event.receiver as unknown as { transform: object }).transform = new Transform(worker, { role: 'recv', kind: event.track.kind as 'audio' | 'video', ...options, id: mid })
      if (event.track.kind !== 'video') return
      const video = document.createElement('video')
      video.muted = true
      video.autoplay = true
      video.playsInline = true
      video.width = 160
      video.srcObject = new MediaStream([event.track])
      document.body.append(video)
      countFrames(video, mid)
    }
  },
  async receive (message) {
    const connection = pc as RTCPeerConnection
    if (message.type === 'tracks') { mids = { ...message.mids }; return }
    const data = message.data
    if ('candidate' in data) {
      await connection.addIceCandidate(data.candidate ?? undefined)
      return
    }
    await connection.setRemoteDescription(data.sdp)
    if (data.sdp.type === 'answer') return
    setUpstream(connection)
    await connection.setLocalDescription()
    const local = connection.localDescription as RTCSessionDescription
    await window.ptSend({ type: 'signal', data: { sdp: { type: 'answer', sdp: local.sdp } } })
  },
  async offerDirect (self, remote) {
    const connection = pc as RTCPeerConnection
    upstreamSet = true
    for (const track of stream?.getTracks() ?? []) {
      const transceiver = connection.addTransceiver(track, { direction: 'sendrecv' })
      ;(transceiver.sender as unknown as { transform: object }).transform = new Transform(worker, { role: 'send', kind: track.kind as 'audio' | 'video', ...options, id: 'self' })
    }
    await connection.setLocalDescription()
    const own: Record<string, string> = {}
    for (const transceiver of connection.getTransceivers()) {
      mids[transceiver.mid as string] = remote
      own[transceiver.mid as string] = self
    }
    await window.ptSend({ type: 'tracks', mids: own })
    await window.ptSend({ type: 'signal', data: { sdp: { type: 'offer', sdp: (connection.localDescription as RTCSessionDescription).sdp } } })
  },
  async recorded () {
    return await new Promise<Recorded>(resolve => {
      worker.onmessage = (event: MessageEvent<Recorded>) => { resolve(event.data) }
      worker.postMessage({ type: 'query' })
    })
  },
  async bytesReceived () {
    let bytes = 0
    ;(await (pc as RTCPeerConnection).getStats()).forEach((entry: Record<string, unknown>) => {
      if (entry.type === 'inbound-rtp') bytes += Number(entry.bytesReceived ?? 0)
    })
    return bytes
  },
  stop () {
    pc?.close()
    for (const track of stream?.getTracks() ?? []) track.stop()
  }
}
