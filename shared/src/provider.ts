/**
 * `window.peerloom` as sites see it: the provider type, its results and the events that
 * announce it. No runtime dependencies, so the script the extension injects into every page
 * stays small; the schemas that check calls live in `page-api.ts`.
 */
import type { CallState, CallTopology, ChatMessage, ParticipantInfo } from './calls/api.ts'

export type { CallState, CallTopology, ChatMessage, MediaFlags, ParticipantInfo } from './calls/api.ts'

/** Event dispatched on `window` once `window.peerloom` exists. */
export const INITIALIZED_EVENT = 'peerloom#initialized'
/** EIP-6963-style announce/request events: a site asks, every provider answers. */
export const ANNOUNCE_EVENT = 'peerloom:announceProvider'
export const REQUEST_EVENT = 'peerloom:requestProvider'
/** Reverse-DNS id of this provider in the announce event. */
export const PROVIDER_RDNS = 'dev.peerloom'

/** What `connect()` resolves with. */
export interface ConnectResult {
  peerId: string
}

export interface ConnectOptions {
  /**
   * false: never open the prompt — resolve when the site is already allowed, reject with 4100
   * when it has not asked yet, 4001 while a refusal stands. @default true
   */
  prompt?: boolean
}

/**
 * `data` of a 4001 refusal from `connect()`: why, and when the site may ask again. A site
 * can tell the user the extension is there but this site was refused, and how to allow it.
 */
export interface RefusalData {
  /** 'denied': the user chose Deny; 'dismissed': the prompt was closed or timed out unanswered. */
  reason: 'denied' | 'dismissed'
  /** ms until connect() may open the prompt again (0: it may now). */
  retryAfterMs: number
}

/** What `publish()` resolves with. */
export interface PublishResult {
  /** `peerloom://<manifest cid>#k=<key>` */
  link: string
  /** The manifest CID. */
  cid: string
}

/**
 * Where the bytes of an origin's reads came from. `bytesRead` (the encrypted blocks the node
 * read: whole chunks even for a Range, plus the manifest and tree nodes) is always
 * `bytesFromPeers + bytesFromOrigin + bytesFromCache`; `bytesDelivered` is the plaintext the
 * page received. The cache row counts only this origin's repeat reads of content it fetched
 * or published before; on a first read, cached bytes count as from peers (the extension's
 * page-API README, "Keys and privacy").
 */
export interface TransferCounts {
  /** Reads: each fetch(), and each range request of a player. */
  fetches: number
  bytesDelivered: number
  bytesRead: number
  bytesFromPeers: number
  bytesFromOrigin: number
  bytesFromCache: number
}

/** What `stats()` resolves with: this origin's own transfers, nothing else. */
export interface OriginStats extends TransferCounts {
  origin: string
  published: number
  bytesPublished: number
}

/** One row of `contentStats()`: this origin's own transfers of one piece of content. */
export interface ContentStats extends TransferCounts {
  /** The manifest CID. */
  cid: string
  name: string
  size: number
  /** This origin published it through `publish()`. */
  published: boolean
  /** ms since the epoch of its last read or publish. */
  lastAt: number
}

/** The EIP-6963-style announcement detail. */
export interface ProviderInfo {
  uuid: string
  name: string
  /** A data: URI of the icon. */
  icon: string
  rdns: string
}

/** A publish progress event: bytes handed to the node so far, with a smoothed rate and ETA. */
export interface PublishProgress {
  bytes: number
  total: number
  /** 0…1 */
  fraction: number
  /** Exponential moving average of the rate; null until enough data. */
  bytesPerSecond: number | null
  /** Seconds left at that rate; null until enough data. */
  etaSeconds: number | null
}

export interface PublishOptions {
  name?: string
  mime?: string
  chunkSize?: number
  contentId?: string
  onProgress?: (progress: PublishProgress) => void
}

export interface PlayerOptions {
  autoplay?: boolean
  muted?: boolean
  controls?: boolean
}

/** Another member of a call: its presence, and the media this page receives from it. */
export interface Participant extends Readonly<ParticipantInfo> {
  /** One stream holding the participant's current audio and video tracks (empty until they arrive). */
  readonly streams: readonly MediaStream[]
}

export interface CallJoinOptions {
  /** The local camera and microphone (either may be missing); tracks are sent end-to-end encrypted. */
  stream: MediaStream
  /** Shown to the others, at most 64 characters. */
  name: string
  /** Aborting it leaves the call (or gives up joining). */
  signal?: AbortSignal
}

/** The `detail` of each event a Call dispatches (as a CustomEvent). */
export interface CallEventDetail {
  joined: { participant: Participant }
  updated: { participant: Participant }
  left: { participant: Participant, reason: 'bye' | 'timeout' | 'removed' }
  /** A remote track arrived (or replaced the participant's previous one of its kind). */
  track: { participant: Participant, track: MediaStreamTrack, streams: readonly MediaStream[] }
  /** A chat message, this browser's own included (`message.own`). */
  message: { message: ChatMessage }
  state: { state: CallState, reason?: string, code?: number }
  topology: { topology: CallTopology, forwarder: string | null }
}

export type CallEventType = keyof CallEventDetail

/** A call joined with `peerloom.call.join(room, options)` (docs/CALLS.md, Page API). */
export interface Call extends EventTarget {
  readonly room: string
  readonly roomId: string
  readonly self: { readonly peerId: string, readonly name: string }
  /** peer id → participant, this page's own left out. */
  readonly participants: ReadonlyMap<string, Participant>
  readonly state: CallState
  readonly topology: CallTopology
  /** The room's chat as this browser keeps it, oldest first. */
  readonly history: readonly ChatMessage[]
  /** Seals `text` (at most 4000 characters) in the node and sends it to everyone in the call. */
  send: (text: string) => Promise<ChatMessage>
  /** Mutes or unmutes the local track of `kind` and tells the others. */
  mute: (kind: 'audio' | 'video', muted: boolean) => void
  /** Sends `track` instead of the current one of `kind` on every connection (screen share); null sends nothing. */
  replaceTrack: (kind: 'audio' | 'video', track: MediaStreamTrack | null) => Promise<void>
  leave: () => Promise<void>
  addEventListener: (<K extends CallEventType>(type: K, listener: (event: CustomEvent<CallEventDetail[K]>) => void, options?: boolean | AddEventListenerOptions) => void) &
  ((type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions) => void)
  removeEventListener: (<K extends CallEventType>(type: K, listener: (event: CustomEvent<CallEventDetail[K]>) => void, options?: boolean | EventListenerOptions) => void) &
  ((type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions) => void)
}

/** `window.peerloom.call`. */
export interface CallApi {
  /** Joins `room` (an open room's name, or a gated room's content id) with the local media. */
  join: (room: string, options: CallJoinOptions) => Promise<Call>
}

/** `window.peerloom`: what a site programs against. */
export interface PeerloomProvider {
  readonly isPeerloom: true
  connect: (options?: ConnectOptions) => Promise<ConnectResult>
  fetch: (link: string, init?: { headers?: HeadersInit, signal?: AbortSignal }) => Promise<Response>
  player: (link: string, options?: PlayerOptions) => Promise<HTMLElement>
  publish: (file: Blob, options?: PublishOptions) => Promise<PublishResult>
  stats: () => Promise<OriginStats>
  /** This origin's transfers per content it fetched or published, most recent first. */
  contentStats: () => Promise<ContentStats[]>
  request: (request: { method: string, params?: unknown }) => Promise<unknown>
  /** Calls: rooms with end-to-end encrypted video, audio and chat. */
  readonly call: CallApi
}
