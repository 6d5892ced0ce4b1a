/**
 * The publisher's key service (docs/DESIGN.md, Publishing and the origin): a viewer signs an
 * EIP-4361-style key request; the service checks the signature, that the request is fresh and
 * used once, and the content's access policy on chain; then it answers with the content key
 * wrapped to the viewer's public key (ECIES) and a Grant signed by the publisher. A refusal
 * says what is missing. The key given out is the one of the key version the registry names,
 * so after a rotation new grants carry the new key. A gated room's key is granted the same way;
 * its holders are remembered so they can be re-checked (rooms.ts).
 */
import { Wallet, getAddress } from 'ethers'
import {
  AccessDeniedError, ChainError, NotFoundError, RateLimitedError, peerloomDomain, signGrant, toHex, verifyKeyRequest, wrapContentKey,
  KEY_REQUEST_SKEW_MS
} from '@peerloom/shared'
import type { KeyGrant, SignedKeyRequest } from '@peerloom/shared'
import type { KeyStore } from './key-store.ts'
import type { Registry } from './registry.ts'
import type { RoomHolders } from './rooms.ts'

/** How long a grant stays valid: long enough to outlive an epoch and its claim. @default 24 h */
export const DEFAULT_GRANT_TTL_SECONDS = 24 * 60 * 60
/** A grant allows this many times the sealed content size (re-fetches after cache eviction). @default 2 */
export const GRANT_BYTES_FACTOR = 2n
/** Plus this, for the manifest and the UnixFS tree nodes. @default 64 KiB */
export const GRANT_BYTES_SLACK = 64n * 1024n
/** Nonces remembered at once; beyond this new requests are refused until old ones expire. @default 100_000 */
export const MAX_REMEMBERED_NONCES = 100_000

export interface KeyServiceInit {
  keys: KeyStore
  registry: Registry
  /** The publisher's key: grants are signed with it. */
  publisher: Wallet
  /** The host requests must name (`host:port`), i.e. this origin as viewers reach it; read per request (the port may be known only once the server listens). */
  domain: () => string
  /** Where the holders granted a gated room's key are remembered. */
  rooms?: RoomHolders
  /** @default DEFAULT_GRANT_TTL_SECONDS */
  grantTtlSeconds?: number
  now?: () => number
  log?: (line: string) => void
}

/** The byte allowance of a grant for content of `size` plaintext bytes in `chunkSize` chunks. */
export function grantAllowance (size: number, chunkSize: number): bigint {
  const chunks = BigInt(Math.max(1, Math.ceil(size / chunkSize)))
  return (BigInt(size) + chunks * 16n) * GRANT_BYTES_FACTOR + GRANT_BYTES_SLACK
}

export class KeyService {
  private readonly init: KeyServiceInit
  private readonly nonces = new Map<string, number>()

  constructor (init: KeyServiceInit) {
    this.init = init
  }

  get publisher (): string {
    return this.init.publisher.address
  }

  private now (): number {
    return this.init.now?.() ?? Date.now()
  }

  /** Answers one signed key request, or throws the reason it is refused. */
  async grant (signed: SignedKeyRequest): Promise<KeyGrant> {
    const { registry, keys, publisher } = this.init
    const now = this.now()
    const { request, publicKey } = verifyKeyRequest(signed, { domain: this.init.domain(), chainId: registry.deployment.chainId, now })
    this.useNonce(`${request.address}/${request.nonce}`, Date.parse(request.expirationTime) + KEY_REQUEST_SKEW_MS, now)

    const content = await registry.content(request.contentId)
    if (content === undefined) throw new NotFoundError(`content ${request.contentId} is not registered in the ContentRegistry at ${registry.deployment.registry}`)
    if (content.publisher !== publisher.address) {
      throw new AccessDeniedError(`content ${request.contentId} is registered by ${content.publisher}; this key service signs for ${publisher.address}`)
    }
    const { allowed, balance } = await registry.access(request.contentId, content.policy, request.address)
    if (!allowed) {
      throw new AccessDeniedError(`needs ${await registry.describe(content.policy)}; ${request.address} holds ${balance}`, {
        data: { contentId: request.contentId, account: request.address, balance: balance.toString(), policy: content.policy.kind }
      })
    }
    const key = await keys.load(request.contentId, content.keyVersion)
    if (key === undefined) throw new NotFoundError(`this origin has no key version ${content.keyVersion} of ${request.contentId}; publish or rotate it here`)

    const grant = {
      client: getAddress(request.address),
      contentId: request.contentId,
      maxBytes: key.room === undefined ? grantAllowance(key.size, key.chunkSize) : key.room.grantBytes,
      expiry: BigInt(Math.floor(now / 1000) + (this.init.grantTtlSeconds ?? DEFAULT_GRANT_TTL_SECONDS))
    }
    let grantSignature: string
    try {
      grantSignature = await signGrant(publisher, peerloomDomain(registry.deployment.chainId, registry.deployment.pool), grant)
    } catch (err) {
      throw new ChainError(`cannot sign the grant: ${(err as Error).message}`, { cause: err })
    }
    if (key.room !== undefined) await this.init.rooms?.admit(request.contentId, request.address)
    this.init.log?.(`key v${key.keyVersion} of ${key.room === undefined ? '' : 'room '}${request.contentId} granted to ${request.address}`)
    return {
      contentId: request.contentId,
      keyVersion: key.keyVersion,
      manifest: key.manifest,
      wrappedKey: toHex(wrapContentKey(publicKey, key.key)),
      grant: { client: grant.client, contentId: grant.contentId, maxBytes: grant.maxBytes.toString(), expiry: grant.expiry.toString() },
      grantSignature
    }
  }

  /** Marks a nonce used until it expires; a second use within that time is refused. */
  private useNonce (nonce: string, expiresAt: number, now: number): void {
    for (const [seen, until] of this.nonces) if (until <= now) this.nonces.delete(seen)
    if (this.nonces.has(nonce)) throw new AccessDeniedError('this key request was already used: sign a new one (each request is good once)')
    if (this.nonces.size >= MAX_REMEMBERED_NONCES) throw new RateLimitedError('the key service is answering too many requests; try again in a minute')
    this.nonces.set(nonce, expiresAt)
  }
}
