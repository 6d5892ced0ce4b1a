/**
 * Keys of gated rooms (docs/CALLS.md, Token-gated rooms): a gated room is a content id in the
 * ContentRegistry, its key is that content's key from the publisher's key service (the signed
 * EIP-4361 request of gated content) and its key version the service's `keyVersion`.
 */
import { Contract, getAddress } from 'ethers'
import { ChainError, ConfigError, NotFoundError } from '@peerloom/shared'
import type { NodeSettings } from '@peerloom/shared'
import registryAbi from '@peerloom/shared/abi/ContentRegistry.json'
import { RPC_TIMEOUT_MS, classify, rpcProvider } from '../rewards/claimer.ts'
import type { KeyClient } from '../rewards/key-client.ts'

export interface RoomKey {
  key: Uint8Array
  keyVersion: number
}

/** Where a call gets a gated room's key. */
export interface GatedRoomKeys {
  /**
   * The key of the room `contentId`. `fresh` asks the key service even if a grant is held (it
   * re-checks the policy). Throws NotFoundError (5001) for a room not registered,
   * AccessDeniedError (5011) when the service refuses this user, ChainError (5012) when the
   * registry cannot be read.
   */
  key: (contentId: string, options: { fresh: boolean, signal?: AbortSignal }) => Promise<RoomKey>
}

export interface RegistryRoomKeysInit {
  settings: () => NodeSettings
  keys: Pick<KeyClient, 'keyForContent'>
}

/** Room keys through the registry (who publishes the room) and the KeyClient (the key itself). */
export class RegistryRoomKeys implements GatedRoomKeys {
  private readonly init: RegistryRoomKeysInit
  /** A registration's publisher never changes. */
  private readonly publishers = new Map<string, string>()

  constructor (init: RegistryRoomKeysInit) {
    this.init = init
  }

  async key (contentId: string, options: { fresh: boolean, signal?: AbortSignal }): Promise<RoomKey> {
    const publisher = await this.publisherOf(contentId.toLowerCase())
    const grant = await this.init.keys.keyForContent(contentId, publisher, options)
    return { key: grant.key, keyVersion: grant.keyVersion }
  }

  private async publisherOf (contentId: string): Promise<string> {
    const known = this.publishers.get(contentId)
    if (known !== undefined) return known
    const { rpcUrl, chainId, contentRegistry } = this.init.settings()
    if (rpcUrl === undefined || chainId === undefined || contentRegistry === undefined) {
      throw new ConfigError('this is a gated room, and this node has no chain configured (RPC, chain id and ContentRegistry) to look it up; set them in Options')
    }
    const registry = new Contract(contentRegistry, registryAbi, rpcProvider(rpcUrl, chainId))
    let found: string
    try {
      found = await registry.getFunction('publisherOf')(contentId) as string
    } catch (err) {
      // coded, and one ChainError for a timeout too: the join's own TimeoutError speaks of the key service
      throw new ChainError(`cannot look up room ${contentId} in the ContentRegistry: ${classify(err, rpcUrl, RPC_TIMEOUT_MS).text}`, { cause: err, data: { rpcUrl } })
    }
    const publisher = getAddress(found)
    if (BigInt(publisher) === 0n) throw new NotFoundError(`no room ${contentId} is registered in the ContentRegistry`)
    this.publishers.set(contentId, publisher)
    return publisher
  }
}
