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
import type { Manifest, OriginStats } from '@peerloom/shared'

export interface GatewayClientInit {
  /** Origin gateway base URLs, e.g. `https://origin.example`. */
  gateways: string[]
  timeoutMs?: number
}

/** Reads Peerloom content without the extension. */
export class GatewayClient {
  private readonly blocks: GatewayBlocks
  private readonly manifests = new Map<string, Promise<Manifest>>()
  private readonly counters: OriginStats

  constructor (init: GatewayClientInit) {
    this.counters = { origin: globalThis.location?.origin ?? '', fetches: 0, bytesDelivered: 0, bytesFromPeers: 0, bytesFromOrigin: 0, published: 0, bytesPublished: 0 }
    this.blocks = new GatewayBlocks({
      gateways: init.gateways,
      ...(init.timeoutMs === undefined ? {} : { timeoutMs: init.timeoutMs }),
      onBlock: (_cid, bytes) => { this.counters.bytesFromOrigin += bytes }
    })
  }

  /** The signed manifest a link names, fetched once and verified (CID and publisher signature). */
  async manifest (cid: CID, signal?: AbortSignal): Promise<Manifest> {
    const key = cid.toString()
    let pending = this.manifests.get(key)
    if (pending === undefined) {
      pending = (async () => {
        const bytes = await this.blocks.fetchBlock(cid, signal === undefined ? undefined : { signal })
        if (!(await manifestCid(bytes)).equals(cid)) throw new BadManifestError(`manifest ${key} is not a dag-json block`)
        return decodeManifest(bytes)
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
    const cipher = await ChunkCipher.create(parsed.key, fromHex(manifest.contentId, 32, 'content id'))
    const response = contentResponse({
      manifest,
      cipher,
      readChunk: unixfsChunkReader(this.blocks, manifest.root, manifest.size, manifest.chunkSize),
      range: new Headers(init?.headers).get('range'),
      ...(init?.signal === undefined ? {} : { signal: init.signal })
    })
    this.counters.fetches++
    const counted = response.body!.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform: (chunk, controller) => { this.counters.bytesDelivered += chunk.length; controller.enqueue(chunk) }
    }))
    return new Response(counted, { status: response.status, headers: response.headers })
  }

  /** Publishing encrypts and announces through a node: there is none without the extension. */
  async publish (): Promise<never> {
    throw new UnsupportedMethodError('publishing needs the Peerloom extension')
  }

  /** This page's own transfers. */
  async stats (): Promise<OriginStats> {
    return { ...this.counters }
  }
}
