/**
 * The read pipeline, in one direction: link → manifest (verified, memoised) → key (from the
 * link, the caller or the publisher's key service) → the chunks a range touches, fetched
 * through one fetch session (blocks/, which reads and fills cache/) with read-ahead →
 * authenticated and decrypted → sliced to the range → a plaintext ReadableStream. The node
 * only wires it: sessions, keys and receipts come in through ContentReaderComponents.
 *
 * @example
 * ```ts
 * const reader = new ContentReader({ openSession, closeSession, isCached, keyFor, trackReceipts, remember, flushReceived, onRead, report })
 * const opened = await reader.open(link, { start: 0, end: 1024 })
 * ```
 */
import {
  BadManifestError, ChunkCipher, ErrorCode, NotFoundError, PeerloomError, decodeManifest, fromHex, openRange, parseLink, unixfsChunkReader
} from '@peerloom/shared'
import type { Manifest } from '@peerloom/shared'
import { CID } from 'multiformats/cid'
import { logger } from '@libp2p/logger'
import type { Logger } from '@libp2p/interface'
import type { ContentSession, FetchStats } from '../blocks/block-fetcher.ts'
import { RANGE_READ_AHEAD, RANGE_READ_AHEAD_INITIAL } from '../constants.ts'
import type { ContentRecord } from '../storage/state-db.ts'

const DAG_PB = 0x70

/** Verified manifests remembered in memory. @default 256 */
const MAX_MEMO_MANIFESTS = 256

export interface OpenOptions {
  /** First plaintext byte (inclusive). @default 0 */
  start?: number
  /** Last plaintext byte (exclusive). @default the content's size */
  end?: number
  signal?: AbortSignal
  /** The content key when the link carries none (gated content, granted elsewhere). */
  key?: Uint8Array
  /** Picks [start, end) once the manifest is known (e.g. from a Range header); overrides start/end. */
  range?: (manifest: Manifest) => { start: number, end: number }
}

/** A range of content, opened: the manifest and the plaintext as a stream. */
export interface OpenedContent {
  manifest: Manifest
  manifestCid: CID
  size: number
  start: number
  end: number
  /** Plaintext of [start, end), verified chunk by chunk. Cancel it to stop the transfer. */
  body: ReadableStream<Uint8Array>
  /** Where the bytes came from, updated as the body is read. */
  stats: FetchStats
}

/** What the reader uses; the node provides each. */
export interface ContentReaderComponents {
  /** A new fetch session (blocks/): verified blocks from the cache, peers or the origin. */
  openSession: () => ContentSession
  /** Closes a session this reader opened (releases its pins and streams). */
  closeSession: (session: ContentSession) => void
  /** True while the block is in the cache: a memoised manifest is used only then. */
  isCached: (cid: CID) => boolean
  /** The key of gated content from the publisher's key service, and the manifest it opens. */
  keyFor: (manifest: Manifest, options: { signal?: AbortSignal }) => Promise<{ key: Uint8Array, manifest: string }>
  /** Signs receipts for bytes from peers while the read goes on. */
  trackReceipts: (stats: FetchStats, contentId: string) => { stop: () => void }
  /** Books the content in the node's content list. */
  remember: (record: ContentRecord) => Promise<void>
  /** Writes the received totals out (the reader learns "done" only after they are on disk). */
  flushReceived: () => Promise<void>
  /** A read ended; `complete` when the whole content was read (so the node may announce it). */
  onRead: (manifest: CID, root: CID, complete: boolean) => void
  report: (err: unknown) => void
  /** Scoped logger. @default logger('peerloom:content') */
  log?: Logger
}

export class ContentReader {
  private readonly components: ContentReaderComponents
  private readonly log: Logger
  /** Verified manifests by CID (immutable bytes): a cached one is not read and checked again. */
  private readonly manifests = new Map<string, Manifest>()

  constructor (components: ContentReaderComponents) {
    this.components = components
    this.log = components.log ?? logger('peerloom:content')
  }

  /**
   * Opens [start, end) of the content a link names and streams its plaintext. Fetches only
   * the chunks the range touches; every block is verified, every chunk authenticated.
   */
  async open (link: string, options: OpenOptions = {}): Promise<OpenedContent> {
    const parsed = parseLink(link)
    let key = parsed.key ?? options.key
    const session = this.components.openSession()
    let receipts: { stop: () => void } | undefined
    try {
      session.pin(parsed.manifest)
      session.discover(parsed.manifest)
      const getOptions = options.signal === undefined ? {} : { signal: options.signal }
      let manifest = await this.manifestOf(session, parsed.manifest, getOptions)
      let opened = parsed.manifest
      // receipts for verified bytes from peers, from the first block on (sent once a grant is held)
      receipts = this.components.trackReceipts(session.stats, manifest.contentId)
      if (key === undefined) {
        // gated content: the publisher's key service grants the key (rewards/key-client.ts)
        const granted = await this.components.keyFor(manifest, getOptions)
        key = granted.key
        if (granted.manifest !== parsed.manifest.toString()) {
          // the key was rotated: it opens the manifest the key service named, of the same content and publisher
          opened = CID.parse(granted.manifest)
          session.pin(opened)
          session.discover(opened)
          const rotated = decodeManifest(await session.get(opened, getOptions))
          if (rotated.contentId !== manifest.contentId || rotated.publisher !== manifest.publisher) throw new BadManifestError(`the key service named manifest ${granted.manifest}, which is not a version of ${manifest.contentId} by ${manifest.publisher}`)
          manifest = rotated
        }
      }
      const { start, end } = options.range?.(manifest) ?? { start: options.start ?? 0, end: options.end ?? manifest.size }
      const root = manifest.root
      session.pin(root)
      session.discover(root)
      const cipher = await ChunkCipher.create(key, fromHex(manifest.contentId))
      // the session is the chunk reader's blockstore: inner nodes stay pinned while the read goes on
      const blockstore = {
        get: async function * (cid: CID, opts?: { signal?: AbortSignal }) {
          if (cid.code === DAG_PB) session.pin(cid)
          yield await session.get(cid, opts?.signal === undefined ? {} : { signal: opts.signal })
        }
      }
      const readChunk = unixfsChunkReader(blockstore as never, root, manifest.size, manifest.chunkSize)
      const controller = new AbortController()
      if (options.signal !== undefined) options.signal.addEventListener('abort', () => { controller.abort(options.signal?.reason) }, { once: true })
      const chunks = openRange({ cipher, size: manifest.size, chunkSize: manifest.chunkSize, start, end, readChunk, readAhead: RANGE_READ_AHEAD, initialReadAhead: RANGE_READ_AHEAD_INITIAL, signal: controller.signal })
      // bookkeeping for the content list: not worth delaying the first byte for
      void this.components.remember({ manifest: opened.toString(), root: root.toString(), name: manifest.name, size: manifest.size, published: false, lastUsed: Date.now() }).catch(err => { this.components.report(err) })
      this.log('reading %s bytes %d-%d of %d', opened, start, end, manifest.size)
      const finish = (complete: boolean): void => {
        this.log('read of %s ended%s: %o', opened, complete ? ' (whole content)' : '', { fromPeers: session.stats.fromPeers, fromOrigin: session.stats.fromOrigin, fromCache: session.stats.fromCache })
        receipts?.stop()
        this.components.closeSession(session)
        this.components.onRead(opened, root, complete)
      }
      const body = new ReadableStream<Uint8Array>({
        pull: async streamController => {
          try {
            const next = await chunks.next()
            if (next.done === true) {
              // the reader learns "done" only once what it fetched is in the cache and counted on disk
              await Promise.all([session.flush(), this.components.flushReceived().catch(err => { this.components.report(err) })])
              streamController.close()
              finish(end === manifest.size && start === 0)
            } else {
              streamController.enqueue(next.value)
            }
          } catch (err) {
            this.log.error('read of %s failed: %s', opened, (err as Error).message)
            finish(false)
            this.components.report(err)
            streamController.error(err)
          }
        },
        cancel: async reason => {
          controller.abort(reason)
          await chunks.return(undefined)
          finish(false)
        }
      }, { highWaterMark: 0 })
      return { manifest, manifestCid: opened, size: manifest.size, start, end, body, stats: session.stats }
    } catch (err) {
      // the manifest's CID, never the link: a link carries the content key
      this.log('could not open %s: %s', parsed.manifest, (err as Error).message)
      receipts?.stop()
      this.components.closeSession(session)
      // say which peers were tried and why they could not help
      if (err instanceof PeerloomError && err.code === ErrorCode.NOT_FOUND) throw new NotFoundError(err.message, { cause: err, data: { ...err.data, droppedPeers: session.stats.droppedPeers } })
      throw err
    }
  }

  /** For a link without a key (gated content): fetches its manifest and obtains the key from the publisher's key service, or throws why not. */
  async prepareKey (link: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const parsed = parseLink(link)
    if (parsed.key !== undefined) return
    const session = this.components.openSession()
    try {
      session.pin(parsed.manifest)
      session.discover(parsed.manifest)
      const manifest = decodeManifest(await session.get(parsed.manifest, options.signal === undefined ? {} : { signal: options.signal }))
      await this.components.keyFor(manifest, options)
    } finally {
      this.components.closeSession(session)
    }
  }

  private async manifestOf (session: ContentSession, cid: CID, options: { signal?: AbortSignal }): Promise<Manifest> {
    const key = cid.toString()
    const known = this.manifests.get(key)
    if (known !== undefined && this.components.isCached(cid)) return known
    const manifest = decodeManifest(await session.get(cid, options))
    this.manifests.set(key, manifest)
    if (this.manifests.size > MAX_MEMO_MANIFESTS) this.manifests.delete(this.manifests.keys().next().value as string)
    return manifest
  }
}
