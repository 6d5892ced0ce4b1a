/**
 * `window.peerloom` as sites see it: the provider type, its results and the events that
 * announce it. No runtime dependencies, so the script the extension injects into every page
 * stays small; the schemas that check calls live in `page-api.ts`.
 */

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

/** What `publish()` resolves with. */
export interface PublishResult {
  /** `peerloom://<manifest cid>#k=<key>` */
  link: string
  /** The manifest CID. */
  cid: string
}

/** What `stats()` resolves with: this origin's own transfers, nothing else. */
export interface OriginStats {
  origin: string
  fetches: number
  bytesDelivered: number
  bytesFromPeers: number
  bytesFromOrigin: number
  published: number
  bytesPublished: number
}

/** The EIP-6963-style announcement detail. */
export interface ProviderInfo {
  uuid: string
  name: string
  /** A data: URI of the icon. */
  icon: string
  rdns: string
}

export interface PublishOptions {
  name?: string
  mime?: string
  chunkSize?: number
  contentId?: string
  onProgress?: (progress: { bytes: number, total: number }) => void
}

export interface PlayerOptions {
  autoplay?: boolean
  muted?: boolean
  controls?: boolean
}

/** `window.peerloom`: what a site programs against. */
export interface PeerloomProvider {
  readonly isPeerloom: true
  connect: () => Promise<ConnectResult>
  fetch: (link: string, init?: { headers?: HeadersInit, signal?: AbortSignal }) => Promise<Response>
  player: (link: string, options?: PlayerOptions) => Promise<HTMLElement>
  publish: (file: Blob, options?: PublishOptions) => Promise<PublishResult>
  stats: () => Promise<OriginStats>
  request: (request: { method: string, params?: unknown }) => Promise<unknown>
}
