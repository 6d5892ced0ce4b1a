/**
 * The no-extension path: content read from origin Trustless Gateways, every block verified
 * against its CID, the manifest's signature checked, chunks opened in the page with the key
 * from the link. Same Response as the extension gives.
 */
import type { CID } from 'multiformats/cid'
import {
  ChunkCipher, GatewayBlocks, UnsupportedMethodError, AccessDeniedError, contentResponse, decodeManifest, fromHex,
  parseLink, unixfsChunkReader, manifestCid, BadManifestError
} from '@peerloom/shared'
import type { ContentStats, Manifest, OriginStats, TransferCounts } from '@peerloom/shared'

export interface GatewayClientInit {
  /** Origin gateway base URLs, e.g. `https://origin.example`. */
  gateways: string[]
  timeoutMs?: number
}

const ZERO: TransferCounts = { fetches: 0, bytesDelivered: 0, bytesRead: 0, bytesFromPeers: 0, bytesFromOrigin: 0, bytesFromCache: 0 }

/** Reads Peerloom content without the extension. */
export class GatewayClient {
  private readonly blocks: GatewayBlocks
  private readonly manifests = new Map<string, Promise<Manifest>>()
  private readonly counters: OriginStats
  private readonly content = new Map<string, ContentStats>()

  constructor (init: GatewayClientInit) {
    this.counters = { origin: globalThis.location?.origin ?? '', ...ZERO, published: 0, bytesPublished: 0 }
    this.blocks = new GatewayBlocks({ gateways: init.gateways, ...(init.timeoutMs === undefined ? {} : { timeoutMs: init.timeoutMs }) })
  }

  /** The signed manifest a link names, fetched once and verified (CID and publisher signature). */
  async manifest (cid: CID, signal?: AbortSignal): Promise<Manifest> {
    const key = cid.toString()
    let pending = this.manifests.get(key)
    if (pending === undefined) {
      pending = (async () => {
        const bytes = await this.blocks.fetchBlock(cid, signal === undefined ? undefined : { signal })
        if (!(await manifestCid(bytes)).equals(cid)) throw new BadManifestError(`manifest ${key} is not a dag-json block`)
        const manifest = decodeManifest(bytes)
        this.count(this.row(key, manifest), 'bytesFromOrigin', bytes.length)
        return manifest
      })()
      pending.catch(() => { this.manifests.delete(key) })
      this.manifests.set(key, pending)
    }
    return await pending
  }

  /** `fetch(link, { headers: { Range } })` → a standard streamed Response (200 or 206). */
  async fetch (link: string, init?: { headers?: HeadersInit, signal?: AbortSignal }): Promise<Response> {
    const parsed = parseLink(link)
    if (parsed.key === undefined) throw new AccessDeniedError('this link carries no key: gated content needs the Peerloom extension and a grant from the publisher')
    const manifest = await this.manifest(parsed.manifest, init?.signal)
    const row = this.row(parsed.manifest.toString(), manifest)
    const cipher = await ChunkCipher.create(parsed.key, fromHex(manifest.contentId, 32, 'content id'))
    // every block this read fetches is counted for its content
    const blocks = this.blocks
    const count = this.count.bind(this)
    const counting = {
      get: async function * (cid: CID, options?: { signal?: AbortSignal }): AsyncGenerator<Uint8Array> {
        for await (const bytes of blocks.get(cid, options)) {
          count(row, 'bytesFromOrigin', bytes.length)
          yield bytes
        }
      }
    }
    const response = contentResponse({
      manifest,
      cipher,
      readChunk: unixfsChunkReader(counting, manifest.root, manifest.size, manifest.chunkSize),
      range: new Headers(init?.headers).get('range'),
      ...(init?.signal === undefined ? {} : { signal: init.signal })
    })
    this.count(row, 'fetches', 1)
    const counted = response.body!.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform: (chunk, controller) => { this.count(row, 'bytesDelivered', chunk.length); controller.enqueue(chunk) }
    }))
    return new Response(counted, { status: response.status, headers: response.headers })
  }

  /** Publishing encrypts and announces through a node: there is none without the extension. */
  async publish (): Promise<never> {
    throw new UnsupportedMethodError('publishing needs the Peerloom extension')
  }

  /** This page's own transfers (everything comes from the origin). */
  async stats (): Promise<OriginStats> {
    return { ...this.counters }
  }

  /** This page's own transfers per content, most recent first. */
  async contentStats (): Promise<ContentStats[]> {
    return [...this.content.values()].sort((a, b) => b.lastAt - a.lastAt).map(row => ({ ...row }))
  }

  private row (cid: string, manifest: Manifest): ContentStats {
    let row = this.content.get(cid)
    if (row === undefined) {
      row = { cid, name: manifest.name, size: manifest.size, published: false, ...ZERO, lastAt: Date.now() }
      this.content.set(cid, row)
    }
    return row
  }

  /** Adds to a content row and the page's totals; bytes from the origin are also bytes read. */
  private count (row: ContentStats, what: 'fetches' | 'bytesDelivered' | 'bytesFromOrigin', n: number): void {
    for (const target of [row, this.counters]) {
      target[what] += n
      if (what === 'bytesFromOrigin') target.bytesRead += n
    }
    row.lastAt = Date.now()
  }
}
