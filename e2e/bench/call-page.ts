/**
 * The page side of bench:call, bundled by the bench and driven through `window.callBench`: a
 * sender that draws each fake-camera frame into a canvas with a timestamp pattern over it
 * (call-pattern.ts) and sends the canvas, receivers that read the pattern back from every
 * decoded frame (`requestVideoFrameCallback`), and the baseline's plain RTCPeerConnection with
 * the bench as its signalling channel. Clocks are `performance.timeOrigin + performance.now()`
 * so that pages in different processes can be compared; the bench measures how far apart they are.
 */
import type { Call } from '@peerloom/shared/provider'
import { BAND_HEIGHT, FRAME_HEIGHT, FRAME_WIDTH, drawStamp, msSince, readStamp, toTenths } from './call-pattern.ts'

/** ms on the clock every page of the bench shares (wall clock at navigation + monotonic time since). */
const clock = (): number => performance.timeOrigin + performance.now()

interface Receiver {
  label: string
  video?: HTMLVideoElement
  /** clock() when the first remote video track was handed over since the last join */
  trackAt?: number
  /** clock() of the first decoded frame since the last join */
  firstFrameAt?: number
  lastFrameAt?: number
  frames: number
  undecodable: number
  lost: number
  lastCounter?: number
  longestGapMs: number
  /** sender's stamp → expected display time, raw clocks of both pages */
  g2gMs: number[]
  /** sender's stamp → the frame's last packet received (the part before the jitter buffer and decoder) */
  receivedMs: number[]
  width: number
  height: number
}

interface Sender {
  stream: MediaStream
  /** frames drawn since the window started */
  frames: number
  /** frames drawn in all, the stamps' counter */
  drawn: number
  /** stop drawing and release the camera and microphone */
  stop: () => void
}

let sender: Sender | undefined
const receivers = new Map<string, Receiver>()
const chatOneWayMs: number[] = []
const reading = Object.assign(document.createElement('canvas'), { width: FRAME_WIDTH, height: BAND_HEIGHT })
const readCtx = reading.getContext('2d', { willReadFrequently: true })!

/**
 * Where the bench's videos and canvas are shown: fixed in the viewport's top left corner, over
 * whatever the page has. On the demo site they were appended below the fold, and Chromium pauses
 * a muted autoplaying video that is off screen: its frames kept coming (requestVideoFrameCallback)
 * but drawImage drew opaque black (measured: every pixel 0 while a MediaStreamTrackProcessor on
 * the same track read the picture).
 */
let shelf: HTMLElement | undefined
function show (element: HTMLElement): void {
  if (shelf === undefined || !shelf.isConnected) {
    shelf = document.createElement('div')
    Object.assign(shelf.style, { position: 'fixed', top: '0', left: '0', zIndex: '2147483647', width: '340px', display: 'flex', flexWrap: 'wrap', gap: '4px', background: '#000' })
    document.body.append(shelf)
  }
  element.style.width = '160px'
  element.style.height = '120px'
  shelf.append(element)
}

/**
 * Starts the sender: the fake camera (640×480, 30 fps) drawn frame by frame into a canvas with
 * the stamp over its top band, and the fake microphone; the stream is what a call sends.
 */
async function startSender (): Promise<void> {
  if (sender !== undefined) return
  if (document.visibilityState !== 'visible') throw new Error('the page is hidden: its frames would be throttled')
  const media = await navigator.mediaDevices.getUserMedia({ video: { width: FRAME_WIDTH, height: FRAME_HEIGHT, frameRate: 30 }, audio: true })
  const camera = Object.assign(document.createElement('video'), { muted: true, playsInline: true, srcObject: new MediaStream(media.getVideoTracks()) })
  const canvas = Object.assign(document.createElement('canvas'), { width: FRAME_WIDTH, height: FRAME_HEIGHT })
  show(camera)
  show(canvas)
  await camera.play()
  const ctx = canvas.getContext('2d')!
  // captureStream(0): a frame only when requestFrame() is called, right after each stamp is drawn
  const track = canvas.captureStream(0).getVideoTracks()[0] as CanvasCaptureMediaStreamTrack
  let stopped = false
  const state: Sender = {
    stream: new MediaStream([track, ...media.getAudioTracks()]),
    frames: 0,
    drawn: 0,
    stop: () => {
      stopped = true
      for (const t of [...media.getTracks(), track]) t.stop()
    }
  }
  const draw = (): void => {
    if (stopped) return
    ctx.drawImage(camera, 0, 0, FRAME_WIDTH, FRAME_HEIGHT)
    drawStamp(ctx, { tenthsMs: toTenths(clock()), counter: state.drawn++ })
    state.frames++
    track.requestFrame()
    camera.requestVideoFrameCallback(draw)
  }
  camera.requestVideoFrameCallback(draw)
  sender = state
}

function senderStream (): MediaStream {
  if (sender === undefined) throw new Error('startSender() first')
  return sender.stream
}

/**
 * Shows `stream` and reads the stamp of each decoded frame, as the frames of `label` (a remote
 * participant): a new stream for the same label (a reconnect) continues its gap count.
 */
function watch (label: string, stream: MediaStream): void {
  const receiver = receivers.get(label) ?? { label, frames: 0, undecodable: 0, lost: 0, longestGapMs: 0, g2gMs: [], receivedMs: [], width: 0, height: 0 }
  receivers.set(label, receiver)
  receiver.trackAt ??= clock()
  receiver.video?.remove()
  const video = Object.assign(document.createElement('video'), { muted: true, playsInline: true, srcObject: stream })
  video.dataset.label = label
  show(video)
  receiver.video = video
  video.play().catch((err: Error) => { console.error(`the video of ${label} does not play: ${err.message}`) })
  const onFrame = (now: number, meta: VideoFrameCallbackMetadata): void => {
    if (receiver.video !== video) return // replaced or unwatched
    const at = performance.timeOrigin + now
    receiver.firstFrameAt ??= at
    if (receiver.lastFrameAt !== undefined) receiver.longestGapMs = Math.max(receiver.longestGapMs, at - receiver.lastFrameAt)
    receiver.lastFrameAt = at
    receiver.frames++
    receiver.width = meta.width
    receiver.height = meta.height
    // the band at whatever size the frame was decoded, scaled to the 640 px it was drawn at
    readCtx.drawImage(video, 0, 0, meta.width, meta.height * BAND_HEIGHT / FRAME_HEIGHT, 0, 0, FRAME_WIDTH, BAND_HEIGHT)
    const stamp = readStamp(readCtx.getImageData(0, 0, FRAME_WIDTH, BAND_HEIGHT).data, FRAME_WIDTH)
    if (stamp === null) receiver.undecodable++
    else {
      receiver.g2gMs.push(msSince(stamp.tenthsMs, performance.timeOrigin + meta.expectedDisplayTime))
      if (meta.receiveTime !== undefined) receiver.receivedMs.push(msSince(stamp.tenthsMs, performance.timeOrigin + meta.receiveTime))
      if (receiver.lastCounter !== undefined) receiver.lost += Math.max(0, ((stamp.counter - receiver.lastCounter + 0x10000) & 0xffff) - 1)
      receiver.lastCounter = stamp.counter
    }
    video.requestVideoFrameCallback(onFrame)
  }
  video.requestVideoFrameCallback(onFrame)
}

/** Stops showing every remote stream and forgets their figures. */
function unwatchAll (): void {
  for (const r of receivers.values()) r.video?.remove()
  receivers.clear()
}

/** Starts a measuring window: figures since now (first-frame times are kept). */
function resetWindow (): void {
  for (const r of receivers.values()) Object.assign(r, { frames: 0, undecodable: 0, lost: 0, longestGapMs: 0, g2gMs: [], receivedMs: [], lastFrameAt: undefined, lastCounter: undefined })
  chatOneWayMs.length = 0
  if (sender !== undefined) sender.frames = 0
}

export interface ReceiverFigures {
  label: string
  trackAt?: number
  firstFrameAt?: number
  frames: number
  undecodable: number
  lost: number
  longestGapMs: number
  g2gMs: number[]
  receivedMs: number[]
  width: number
  height: number
  /** ms since the last decoded frame, at the time of the call */
  sinceLastFrameMs?: number
}

function figures (): { sentFrames: number, receivers: ReceiverFigures[], chatOneWayMs: number[] } {
  const now = clock()
  return {
    sentFrames: sender?.frames ?? 0,
    receivers: [...receivers.values()].map(({ video: _video, lastFrameAt, lastCounter: _c, ...r }) => ({ ...r, sinceLastFrameMs: lastFrameAt === undefined ? undefined : now - lastFrameAt })),
    chatOneWayMs: [...chatOneWayMs]
  }
}

/** Records a chat message's one-way time from the sender's stamp `{ at }` in its text. */
function chatReceived (text: string): void {
  const at = (JSON.parse(text) as { at?: unknown }).at
  if (typeof at === 'number') chatOneWayMs.push(clock() - at)
}

/** A chat text of about `bytes` bytes carrying the sender's clock. */
function chatText (bytes: number): string {
  const at = clock()
  return JSON.stringify({ at, pad: 'x'.repeat(Math.max(0, bytes - JSON.stringify({ at, pad: '' }).length)) })
}

// ---- the baseline: ordinary RTCPeerConnections, signalled by the bench ----

type PlainSignal = { sdp: RTCSessionDescriptionInit } | { candidate: RTCIceCandidateInit | null }

/** This page's name at the bench's signalling server, and its sends in order per remote. */
let signalling: { name: string, sends: Map<string, Promise<void>> } | undefined

/**
 * Registers as `name` at the bench's signalling server (server-sent events down, POST up, as a
 * site's own signalling server would be reached) and answers what arrives.
 */
async function plainSignalling (name: string): Promise<void> {
  const events = new EventSource(`/signal?name=${encodeURIComponent(name)}`)
  events.onmessage = event => {
    const { from, signal } = JSON.parse(event.data as string) as { from: string, signal: unknown }
    const handled = from === FORWARDER ? legReceive(signal as LegMessage) : plainSignal(from, signal as PlainSignal)
    handled.catch((err: Error) => { console.error(`signal from ${from}: ${err.message}`) })
  }
  await new Promise<void>((resolve, reject) => {
    events.onopen = () => { resolve() }
    events.onerror = () => { reject(new Error('the signalling server is unreachable')) }
  })
  signalling = { name, sends: new Map() }
}

/** Sends a signal to participant `to`; resolves once the server passed it on. */
async function sendSignal (to: string, signal: PlainSignal): Promise<void> {
  if (signalling === undefined) throw new Error('plainSignalling() first')
  const { name, sends } = signalling
  const sent = (sends.get(to) ?? Promise.resolve()).then(async () => {
    const response = await fetch('/signal', { method: 'POST', body: JSON.stringify({ from: name, to, signal }) })
    if (!response.ok) throw new Error(`the signalling server answered ${response.status}`)
  })
  sends.set(to, sent.catch(() => {}))
  await sent
}

const plain = new Map<string, { pc: RTCPeerConnection, chat: RTCDataChannel }>()

/**
 * Connects to participant `remote` as a mesh call page would: one RTCPeerConnection with the
 * sender's tracks and an ordered `chat` channel; the offerer starts the negotiation.
 */
async function plainConnect (remote: string, offerer: boolean): Promise<void> {
  plain.get(remote)?.pc.close()
  const pc = new RTCPeerConnection({ iceServers: [] })
  const chat = pc.createDataChannel('chat', { negotiated: true, id: 0, ordered: true })
  chat.onmessage = event => { chatReceived(event.data as string) }
  plain.set(remote, { pc, chat })
  const stream = senderStream()
  for (const track of stream.getTracks()) pc.addTrack(track, stream)
  pc.ontrack = event => { if (event.track.kind === 'video') watch(remote, event.streams[0] ?? new MediaStream([event.track])) }
  pc.onicecandidate = event => { sendSignal(remote, { candidate: event.candidate?.toJSON() ?? null }).catch((err: Error) => { console.error(err.message) }) }
  if (offerer) {
    await pc.setLocalDescription(await pc.createOffer())
    await sendSignal(remote, { sdp: pc.localDescription!.toJSON() })
  }
}

/** A signal from participant `from`, passed on by the bench. */
async function plainSignal (from: string, signal: PlainSignal): Promise<void> {
  const pc = plain.get(from)?.pc
  if (pc === undefined) throw new Error(`no connection to ${from}`)
  if ('sdp' in signal) {
    await pc.setRemoteDescription(signal.sdp)
    if (signal.sdp.type === 'offer') {
      await pc.setLocalDescription(await pc.createAnswer())
      await sendSignal(from, { sdp: pc.localDescription!.toJSON() })
    }
  } else if (signal.candidate !== null) await pc.addIceCandidate(signal.candidate)
}

/** Closes every plain connection and stops showing their streams. */
function plainLeave (): void {
  for (const { pc } of plain.values()) pc.close()
  plain.clear()
  unwatchAll()
}

/** Sends `count` chat messages of `bytes` bytes to everyone, one round every `everyMs`. */
async function plainChat (count: number, bytes: number, everyMs: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    for (const [remote, { chat }] of plain) {
      if (chat.readyState !== 'open') throw new Error(`the chat channel to ${remote} is not open`)
      chat.send(chatText(bytes))
    }
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}

function stopSender (): void {
  sender?.stop()
  sender = undefined
}

// ---- Peerloom: `peerloom.call.join` in a page of a profile with the extension ----

let call: Call | undefined

/**
 * Joins `room` through the page API with the sender's stream, showing every participant's video
 * as it arrives; returns the clock() before the call and our peer id.
 */
async function peerloomJoin (room: string, name: string): Promise<{ joinedAt: number, peerId: string }> {
  if (window.peerloom?.call === undefined) throw new Error('this page has no peerloom.call')
  await peerloomLeave()
  const joinedAt = clock()
  const joined = await window.peerloom.call.join(room, { stream: senderStream(), name })
  call = joined
  joined.addEventListener('track', event => {
    const { participant, track } = event.detail
    if (track.kind === 'video' && call === joined) watch(participant.peerId, new MediaStream([track]))
  })
  joined.addEventListener('message', event => { if (!event.detail.message.own) chatReceived(event.detail.message.text) })
  return { joinedAt, peerId: joined.self.peerId }
}

async function peerloomLeave (): Promise<void> {
  const leaving = call
  call = undefined
  unwatchAll()
  await leaving?.leave()
}

/** Sends `count` chat messages of about `bytes` bytes through the call, one every `everyMs`. */
async function peerloomChat (count: number, bytes: number, everyMs: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    if (call === undefined) throw new Error('not in a call')
    await call.send(chatText(bytes))
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}

/** The call as the page sees it. */
function peerloomState (): { state: string, topology: string, participants: number } | null {
  return call === undefined ? null : { state: call.state, topology: call.topology, participants: call.participants.size }
}

// ---- plain pages through the forwarder engine (docs/CALLS.md, "the forwarder's leg") ----

/** The name the forwarder has at the bench's signalling server. */
const FORWARDER = 'forwarder'
type LegMessage = { type: 'signal', data: PlainSignal } | { type: 'tracks', mids: Record<string, string> }

let leg: { pc: RTCPeerConnection, mids: Record<string, string>, tracks: Map<string, MediaStreamTrack>, shown: Set<MediaStreamTrack>, upstream: boolean } | undefined

/**
 * Gets ready for the forwarder's first offer (the bench attaches this page to the forwarder
 * next): the forwarder offers every time and this page only answers.
 */
function legPrepare (): void {
  legLeave()
  const pc = new RTCPeerConnection({ iceServers: [] })
  const state = { pc, mids: {}, tracks: new Map<string, MediaStreamTrack>(), shown: new Set<MediaStreamTrack>(), upstream: false }
  leg = state
  pc.onicecandidate = event => { sendSignal(FORWARDER, { candidate: event.candidate?.toJSON() ?? null }).catch((err: Error) => { console.error(err.message) }) }
  pc.ontrack = event => {
    const mid = event.transceiver.mid
    if (mid === null || event.track.kind !== 'video') return
    state.tracks.set(mid, event.track)
    showLegTracks()
  }
}

/** Shows each video mid that `tracks` named, as its sender's frames. */
function showLegTracks (): void {
  if (leg === undefined) return
  for (const [mid, track] of leg.tracks) {
    const origin = leg.mids[mid]
    if (origin === undefined || leg.shown.has(track)) continue
    leg.shown.add(track)
    watch(origin, new MediaStream([track]))
  }
}

async function legReceive (message: LegMessage): Promise<void> {
  if (leg === undefined) return
  const { pc } = leg
  if (message.type === 'tracks') {
    leg.mids = { ...message.mids }
    showLegTracks()
    return
  }
  const data = message.data
  if (!('sdp' in data)) {
    if (data.candidate !== null) await pc.addIceCandidate(data.candidate)
    return
  }
  await pc.setRemoteDescription(data.sdp)
  if (!leg.upstream) {
    // the first offer's first audio and video transceivers, in that order, carry this page's tracks
    leg.upstream = true
    const stream = senderStream()
    for (const [i, kind] of (['audio', 'video'] as const).entries()) {
      const transceiver = pc.getTransceivers()[i]
      const track = stream.getTracks().find(t => t.kind === kind)
      if (transceiver === undefined || track === undefined) continue
      transceiver.direction = 'sendonly'
      await transceiver.sender.replaceTrack(track)
    }
  }
  await pc.setLocalDescription(await pc.createAnswer())
  await sendSignal(FORWARDER, { sdp: pc.localDescription!.toJSON() })
}

function legLeave (): void {
  leg?.pc.close()
  leg = undefined
  unwatchAll()
}

const callBench = { clock, startSender, legPrepare, legLeave, peerloomJoin, peerloomLeave, peerloomChat, peerloomState, plainSignalling, stopSender, resetWindow, figures, unwatchAll, plainConnect, plainSignal, plainLeave, plainChat }
export type CallBench = typeof callBench
;(window as unknown as { callBench: CallBench }).callBench = callBench
