/**
 * @peerloom/sdk — Peerloom for sites. Uses the extension's `window.peerloom` when the visitor
 * has it (and consents), and otherwise reads the same content from the origin's Trustless
 * Gateway, verifying every block and opening chunks in the page, so the site works for every
 * visitor.
 *
 * @example
 * ```ts
 * import { createPeerloom } from '@peerloom/sdk'
 * const peerloom = await createPeerloom({ gateways: ['https://origin.example'] })
 * await peerloom.connect()                       // asks the user, if the extension is there
 * const response = await peerloom.fetch(link, { headers: { Range: 'bytes=0-1023' } })
 * document.body.append(await peerloom.player(link))
 * ```
 */
import { ErrorCode, isPeerloomError, UnsupportedMethodError } from '@peerloom/shared'
import type { OriginStats, PeerloomProvider, PlayerOptions, ProviderInfo, PublishOptions, PublishResult } from '@peerloom/shared/page-api'
import { detectProvider } from './detect.ts'
import { GatewayClient } from './gateway-client.ts'

export { detectProvider, DEFAULT_DETECT_TIMEOUT_MS } from './detect.ts'
export { GatewayClient } from './gateway-client.ts'
export type { PeerloomProvider, OriginStats, PlayerOptions, ProviderInfo, PublishOptions, PublishResult, ConnectResult } from '@peerloom/shared/page-api'
export { ErrorCode, PeerloomError, isPeerloomError } from '@peerloom/shared/errors'

export interface PeerloomInit {
  /** Origin gateways for visitors without the extension (or who decline it). */
  gateways: string[]
  /** How long to wait for the extension to announce itself. @default 300 */
  detectTimeoutMs?: number
  /** Per-block gateway timeout. @default 10_000 */
  gatewayTimeoutMs?: number
  /** Read from the gateway when the visitor refuses or revokes consent. @default true */
  fallbackOnRefusal?: boolean
}

export type Mode = 'extension' | 'gateway'

/** One object for the site, whichever path serves it. */
export class Peerloom {
  readonly provider: PeerloomProvider | null
  readonly info: ProviderInfo | null
  private readonly gateway: GatewayClient
  private readonly fallbackOnRefusal: boolean
  private refused = false

  constructor (provider: PeerloomProvider | null, info: ProviderInfo | null, init: PeerloomInit) {
    this.provider = provider
    this.info = info
    this.gateway = new GatewayClient({ gateways: init.gateways, ...(init.gatewayTimeoutMs === undefined ? {} : { timeoutMs: init.gatewayTimeoutMs }) })
    this.fallbackOnRefusal = init.fallbackOnRefusal ?? true
  }

  /** 'extension' while the extension serves this site, 'gateway' otherwise. */
  get mode (): Mode {
    return this.provider !== null && !this.refused ? 'extension' : 'gateway'
  }

  /** Asks the visitor to let this site use Peerloom; resolves `{ peerId: null }` without the extension. */
  async connect (): Promise<{ peerId: string | null }> {
    if (this.provider === null) return { peerId: null }
    try {
      const result = await this.provider.connect()
      this.refused = false
      return result
    } catch (err) {
      if (this.isRefusal(err)) {
        this.refused = true
        return { peerId: null }
      }
      throw err
    }
  }

  /** A standard Response with a streamed body; honours `Range`. */
  async fetch (link: string, init?: { headers?: HeadersInit, signal?: AbortSignal }): Promise<Response> {
    return await this.either(async p => await p.fetch(link, init), async () => await this.gateway.fetch(link, init))
  }

  /** A video element (inside the extension's player frame with the extension; a plain `<video>` otherwise). */
  async player (link: string, options: PlayerOptions = {}): Promise<HTMLElement> {
    return await this.either(async p => await p.player(link, options), async () => {
      const video = document.createElement('video')
      video.controls = options.controls ?? true
      video.muted = options.muted ?? false
      video.autoplay = options.autoplay ?? false
      // Without the extension the whole file is read (verified) first; seeking works once it is in.
      const response = await this.gateway.fetch(link)
      video.src = URL.createObjectURL(await response.blob())
      return video
    })
  }

  /** Encrypts and publishes a file through the visitor's node (needs the extension). */
  async publish (file: Blob, options?: PublishOptions): Promise<PublishResult> {
    if (this.mode !== 'extension') throw new UnsupportedMethodError('publishing needs the Peerloom extension')
    return await this.provider!.publish(file, options)
  }

  /** This site's own transfers. */
  async stats (): Promise<OriginStats> {
    return await this.either(async p => await p.stats(), async () => await this.gateway.stats())
  }

  private isRefusal (err: unknown): boolean {
    return this.fallbackOnRefusal && isPeerloomError(err) && (err.code === ErrorCode.USER_REJECTED || err.code === ErrorCode.UNAUTHORIZED)
  }

  private async either<T> (viaExtension: (p: PeerloomProvider) => Promise<T>, viaGateway: () => Promise<T>): Promise<T> {
    if (this.mode === 'extension') {
      try {
        return await viaExtension(this.provider!)
      } catch (err) {
        if (!this.isRefusal(err)) throw err
        // a refusal (4001) stands until the next connect(); "not connected yet" (4100) only sends this call to the gateway
        if ((err as { code?: number }).code === ErrorCode.USER_REJECTED) this.refused = true
      }
    }
    return await viaGateway()
  }
}

/** Detects the extension and returns a client that uses it or the gateways. */
export async function createPeerloom (init: PeerloomInit): Promise<Peerloom> {
  const found = await detectProvider(init.detectTimeoutMs === undefined ? {} : { timeoutMs: init.detectTimeoutMs })
  return new Peerloom(found?.provider ?? null, found?.info ?? null, init)
}
