/**
 * Gets the key of gated content (a link without `#k=`) from the publisher's key service at the
 * configured origins: signs an EIP-4361-style request with the node's identity key, checks the
 * answer (the grant is for this node and content and signed by the manifest's publisher),
 * unwraps the key and keeps key and grant in IndexedDB: the key for reading, the grant for the
 * receipts this node signs. A refusal carries the service's reason (code 5011).
 */
import {
  AccessDeniedError, DisconnectedError, createKeyRequest, errorFromWire, fromHex, keyGrantSchema, peerloomDomain,
  signKeyRequest, unwrapContentKey, verifyGrant, isPeerloomError, ErrorCode
} from '@peerloom/shared'
import type { Manifest, NodeSettings } from '@peerloom/shared'
import { getAddress } from 'ethers'
import type { Wallet } from 'ethers'
import { raceSignal } from 'race-signal'
import type { RewardsDb, StoredGrant } from './rewards-db.ts'

/** The key service's path on an origin. */
export const KEY_SERVICE_PATH = '/keys/v1'
/** A stored grant this close to expiry is renewed instead of used. @default 10 minutes */
export const GRANT_RENEW_MARGIN_SECONDS = 600
/** How long one key request may take. @default 15_000 */
export const KEY_REQUEST_TIMEOUT_MS = 15_000

/** What a key request needs of a manifest: the content and who signs its grants. */
type ContentOwner = Pick<Manifest, 'contentId' | 'publisher'>

export interface KeyClientComponents {
  db: RewardsDb
  settings: () => NodeSettings
  /** The node's identity key: it signs the request, and the key is wrapped to it. */
  signer: () => Wallet
  now?: () => number
}

export class KeyClient {
  private readonly components: KeyClientComponents
  /** Key requests in flight per content: a player's parallel range requests share one. */
  private readonly pending = new Map<string, Promise<StoredGrant>>()

  constructor (components: KeyClientComponents) {
    this.components = components
  }

  private now (): number {
    return this.components.now?.() ?? Date.now()
  }

  /** The stored grant of a content, if it is still valid. */
  async grantFor (contentId: string): Promise<StoredGrant | undefined> {
    const stored = await this.components.db.get('grants', contentId.toLowerCase())
    if (stored === undefined || BigInt(stored.grant.expiry) <= BigInt(Math.floor(this.now() / 1000))) return undefined
    return stored
  }

  /**
   * The content key for `manifest` (and the manifest CID of the key version granted, which
   * after a rotation is newer than the link's). Asks the key service unless a grant is held.
   */
  async keyFor (manifest: Manifest, options: { signal?: AbortSignal } = {}): Promise<StoredGrant> {
    return await this.keyForContent(manifest.contentId, manifest.publisher, options)
  }

  /**
   * The key of `contentId`, whose grants `publisher` signs (a gated call room has no manifest).
   * `fresh` asks the key service even while a grant is held: the service checks the policy on
   * every request, so a room member re-asks to learn of a new key version or a removal.
   */
  async keyForContent (contentId: string, publisher: string, options: { fresh?: boolean, signal?: AbortSignal } = {}): Promise<StoredGrant> {
    const owner: ContentOwner = { contentId: contentId.toLowerCase(), publisher }
    const held = options.fresh === true ? undefined : await this.grantFor(owner.contentId)
    if (held !== undefined && BigInt(held.grant.expiry) > BigInt(Math.floor(this.now() / 1000) + GRANT_RENEW_MARGIN_SECONDS) && getAddress(held.publisher) === getAddress(publisher)) return held
    let pending = this.pending.get(owner.contentId)
    if (pending === undefined) {
      // shared by every caller, so one caller giving up does not abort the others: bounded by KEY_REQUEST_TIMEOUT_MS
      pending = this.request(owner).finally(() => { this.pending.delete(owner.contentId) })
      this.pending.set(owner.contentId, pending)
    }
    return await raceSignal(pending, options.signal)
  }

  private async request (manifest: ContentOwner): Promise<StoredGrant> {
    const settings = this.components.settings()
    if (settings.chainId === undefined || settings.rewardPool === undefined) {
      throw new AccessDeniedError('this is gated content, and this node has no chain configured (chain id and RewardPool) to ask its publisher for the key; set them in Options')
    }
    const services = settings.keyServices.length > 0 ? settings.keyServices : settings.gateways
    if (services.length === 0) throw new AccessDeniedError('this is gated content, and no origin is configured to ask its publisher for the key; add one in Options')
    const signer = this.components.signer()
    let last: unknown
    for (const gateway of services) {
      const url = new URL(KEY_SERVICE_PATH, gateway)
      try {
        return await this.ask(url, manifest, settings, signer)
      } catch (err) {
        // a refusal by the publisher's service is the answer; anything else: try the next origin
        if (isPeerloomError(err) && (err.code === ErrorCode.ACCESS_DENIED || err.code === ErrorCode.BAD_SIGNATURE)) throw err
        last = err
      }
    }
    throw isPeerloomError(last) ? last : new DisconnectedError(`no key service answered: ${(last as Error)?.message ?? 'none configured'}`, { cause: last })
  }

  private async ask (url: URL, manifest: ContentOwner, settings: NodeSettings, signer: Wallet): Promise<StoredGrant> {
    const chainId = settings.chainId as number
    const contentId = manifest.contentId.toLowerCase()
    const request = createKeyRequest({ domain: url.host, address: signer.address, uri: url.toString(), chainId, contentId, now: this.now() })
    const signed = await signKeyRequest(signer, request)
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(signed),
      signal: AbortSignal.timeout(KEY_REQUEST_TIMEOUT_MS)
    })
    const body = await response.json().catch(() => undefined) as { error?: { code?: unknown, message?: unknown } } | undefined
    if (!response.ok) {
      const error = body?.error
      if (error !== undefined) throw errorFromWire({ code: error.code, message: String(error.message) })
      throw new DisconnectedError(`${url.origin} answered ${response.status} to a key request`)
    }
    const answer = keyGrantSchema.parse(body)
    const grant = { client: getAddress(answer.grant.client), contentId: answer.grant.contentId.toLowerCase(), maxBytes: BigInt(answer.grant.maxBytes), expiry: BigInt(answer.grant.expiry) }
    if (grant.client !== getAddress(signer.address) || grant.contentId !== contentId || answer.contentId !== contentId) {
      throw new AccessDeniedError(`the key service at ${url.origin} answered with a grant for ${grant.client}/${grant.contentId}, not for this node and content`)
    }
    // the grant must be the publisher's: the same key that signed the manifest
    verifyGrant(peerloomDomain(chainId, settings.rewardPool as string), grant, answer.grantSignature, manifest.publisher)
    const stored: StoredGrant = {
      contentId,
      keyVersion: answer.keyVersion,
      manifest: answer.manifest,
      key: unwrapContentKey(signer.privateKey, fromHex(answer.wrappedKey)),
      grant: { client: grant.client, contentId, maxBytes: grant.maxBytes.toString(), expiry: grant.expiry.toString() },
      grantSignature: answer.grantSignature,
      publisher: getAddress(manifest.publisher),
      receivedAt: this.now()
    }
    await this.components.db.put('grants', stored)
    return stored
  }
}
