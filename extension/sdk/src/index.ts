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
 * const { refusal } = await peerloom.connect()   // asks the user, if the extension is there
 * if (refusal) show(refusal.message)              // the extension is there, but this site was refused
 * const response = await peerloom.fetch(link, { headers: { Range: 'bytes=0-1023' } })
 * document.body.append(await peerloom.player(link))
 * const call = await peerloom.call.join('standup', { stream: await navigator.mediaDevices.getUserMedia({ video: true, audio: true }), name: 'Ada' })
 * call.addEventListener('track', e => { video.srcObject = e.detail.streams[0] ?? null })
 * ```
 */
import { ErrorCode, isPeerloomError, UnsupportedMethodError } from '@peerloom/shared'
import type { Call, CallApi, CallJoinOptions, ConnectOptions, ContentStats, OriginStats, PeerloomProvider, PlayerOptions, ProviderInfo, PublishOptions, PublishResult, RefusalData } from '@peerloom/shared/page-api'
import { detectProvider } from './detect.ts'
import { GatewayClient } from './gateway-client.ts'

export { detectProvider, DEFAULT_DETECT_TIMEOUT_MS } from './detect.ts'
export { GatewayClient } from './gateway-client.ts'
export { ProgressMeter, formatBytes, formatDuration } from '@peerloom/shared/progress'
export type { ProgressMeterOptions } from '@peerloom/shared/progress'
export type {
  PeerloomProvider, OriginStats, ContentStats, TransferCounts, PlayerOptions, ProviderInfo, PublishOptions, PublishProgress, PublishResult,
  ConnectResult, ConnectOptions, RefusalData,
  Call, CallApi, CallJoinOptions, CallEventDetail, CallEventType, CallState, CallTopology, ChatMessage, MediaFlags, Participant, ParticipantInfo
} from '@peerloom/shared/page-api'
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
  /** `createPeerloom` asks the extension, without a prompt, whether this site is already allowed. @default true */
  restore?: boolean
}

export type Mode = 'extension' | 'gateway'

/**
 * Where this site stands with the visitor's Peerloom: no extension; extension there but not
 * connected yet; connected; or refused (the extension IS there — see `refusal`).
 */
export type ConnectionState = 'no-extension' | 'not-connected' | 'connected' | 'refused'

/** Why the extension refused this site, and when `connect()` may ask the visitor again. */
export interface Refusal {
  /** 'denied': the visitor chose Deny; 'dismissed': closed the prompt; 'revoked': took the permission back in Peerloom's Options. */
  reason: RefusalData['reason'] | 'revoked'
  /** The extension's message, saying how the visitor can allow the site. */
  message: string
  /** ms since the epoch when `connect()` may open the prompt again (now or earlier: it will). */
  retryAt: number
}

/** Dispatched on the `Peerloom` object whenever `state` (or `refusal`) changes. */
export const STATE_CHANGE_EVENT = 'statechange'

function refusalOf (err: unknown): Refusal | undefined {
  if (!isPeerloomError(err) || err.code !== ErrorCode.USER_REJECTED) return undefined
  const data = err.data as Partial<RefusalData> | undefined
  const reason = data?.reason === 'denied' || data?.reason === 'dismissed' ? data.reason : 'dismissed'
  const wait = typeof data?.retryAfterMs === 'number' && data.retryAfterMs > 0 ? data.retryAfterMs : 0
  return { reason, message: err.message, retryAt: Date.now() + wait }
}

/** One object for the site, whichever path serves it. */
export class Peerloom extends EventTarget {
  readonly provider: PeerloomProvider | null
  readonly info: ProviderInfo | null
  private readonly gateway: GatewayClient
  private readonly fallbackOnRefusal: boolean
  private current: ConnectionState
  private refusedWith: Refusal | null = null
  private connectedAs: string | null = null

  constructor (provider: PeerloomProvider | null, info: ProviderInfo | null, init: PeerloomInit) {
    super()
    this.provider = provider
    this.info = info
    this.current = provider === null ? 'no-extension' : 'not-connected'
    this.gateway = new GatewayClient({ gateways: init.gateways, ...(init.gatewayTimeoutMs === undefined ? {} : { timeoutMs: init.gatewayTimeoutMs }) })
    this.fallbackOnRefusal = init.fallbackOnRefusal ?? true
  }

  /** 'extension' while the extension serves this site, 'gateway' otherwise. */
  get mode (): Mode {
    return this.provider !== null && !(this.current === 'refused' && this.fallbackOnRefusal) ? 'extension' : 'gateway'
  }

  get state (): ConnectionState {
    return this.current
  }

  /** Set while `state` is 'refused'. */
  get refusal (): Refusal | null {
    return this.refusedWith
  }

  /** The visitor's node, once connected. */
  get peerId (): string | null {
    return this.connectedAs
  }

  /**
   * Asks the visitor to let this site use Peerloom. Resolves `{ peerId }` when allowed,
   * `{ peerId: null, refusal }` when refused (the extension is there: show `refusal.message`),
   * `{ peerId: null }` without the extension. After a Deny the extension refuses at once for a
   * while (`refusal.retryAt`), then asks again. `{ prompt: false }` only checks.
   */
  async connect (options: ConnectOptions = {}): Promise<{ peerId: string | null, refusal?: Refusal }> {
    if (this.provider === null) return { peerId: null }
    try {
      const result = await this.provider.connect(options)
      this.set('connected', null, result.peerId)
      return result
    } catch (err) {
      const refusal = refusalOf(err)
      if (refusal !== undefined) {
        this.set('refused', refusal)
        if (!this.fallbackOnRefusal) throw err
        return { peerId: null, refusal }
      }
      if (isPeerloomError(err) && err.code === ErrorCode.UNAUTHORIZED) {
        this.set('not-connected', null)
        return { peerId: null }
      }
      throw err
    }
  }

  /** Learns, without a prompt, whether the visitor allowed this site before. */
  async restore (): Promise<ConnectionState> {
    if (this.provider !== null) await this.connect({ prompt: false }).catch(() => {})
    return this.current
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

  /**
   * Encrypts and publishes a file through the visitor's node (needs the extension).
   * `onProgress` gets bytes, fraction and a smoothed rate and ETA (null until enough data).
   */
  async publish (file: Blob, options?: PublishOptions): Promise<PublishResult> {
    if (this.mode !== 'extension') throw new UnsupportedMethodError(this.current === 'refused' ? 'publishing needs Peerloom, which this site was refused; connect() again' : 'publishing needs the Peerloom extension')
    return await this.withExtension(async p => await p.publish(file, options))
  }

  /** This site's own transfers: bytesRead = bytesFromPeers + bytesFromOrigin + bytesFromCache. */
  async stats (): Promise<OriginStats> {
    return await this.either(async p => await p.stats(), async () => await this.gateway.stats())
  }

  /** This site's own transfers per content it fetched or published, most recent first. */
  async contentStats (): Promise<ContentStats[]> {
    return await this.either(async p => await p.contentStats(), async () => await this.gateway.contentStats())
  }

  /**
   * Calls (needs the extension and a connected site): `call.join(room, { stream, name })`
   * joins an open room by name, or a gated room by its content id, with end-to-end encrypted
   * media and chat. Without the extension it refuses with 4200.
   */
  get call (): CallApi {
    return {
      join: async (room: string, options: CallJoinOptions): Promise<Call> => {
        if (this.mode !== 'extension') throw new UnsupportedMethodError(this.current === 'refused' ? 'calls need Peerloom, which this site was refused; connect() again' : 'calls need the Peerloom extension')
        return await this.withExtension(async p => await p.call.join(room, options))
      }
    }
  }

  private set (state: ConnectionState, refusal: Refusal | null, peerId: string | null = null): void {
    const changed = state !== this.current || refusal?.message !== this.refusedWith?.message || peerId !== this.connectedAs
    this.current = state
    this.refusedWith = refusal
    this.connectedAs = peerId
    if (changed) this.dispatchEvent(new Event(STATE_CHANGE_EVENT))
  }

  /** Runs a call on the extension; a 4100 while connected means the visitor revoked the site. */
  private async withExtension<T> (call: (p: PeerloomProvider) => Promise<T>): Promise<T> {
    try {
      return await call(this.provider!)
    } catch (err) {
      if (isPeerloomError(err) && err.code === ErrorCode.UNAUTHORIZED && this.current === 'connected') {
        this.set('refused', { reason: 'revoked', message: 'Peerloom access for this site was revoked in Peerloom\'s Options; connect() asks again', retryAt: Date.now() })
      }
      throw err
    }
  }

  private async either<T> (viaExtension: (p: PeerloomProvider) => Promise<T>, viaGateway: () => Promise<T>): Promise<T> {
    if (this.mode === 'extension') {
      try {
        return await this.withExtension(viaExtension)
      } catch (err) {
        // not connected (4100) or revoked: this call goes to the gateway; a refusal stands until the next connect()
        if (!this.fallbackOnRefusal || !isPeerloomError(err) || (err.code !== ErrorCode.UNAUTHORIZED && err.code !== ErrorCode.USER_REJECTED)) throw err
      }
    }
    return await viaGateway()
  }
}

/** Detects the extension and returns a client that uses it or the gateways. */
export async function createPeerloom (init: PeerloomInit): Promise<Peerloom> {
  const found = await detectProvider(init.detectTimeoutMs === undefined ? {} : { timeoutMs: init.detectTimeoutMs })
  const peerloom = new Peerloom(found?.provider ?? null, found?.info ?? null, init)
  if (init.restore ?? true) await peerloom.restore()
  return peerloom
}
