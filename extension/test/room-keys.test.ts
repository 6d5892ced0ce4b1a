/**
 * Gated room keys (room-keys.ts) against a real anvil ContentRegistry: the room's publisher is
 * read from the registry and handed to the KeyClient with the caller's options; an unregistered
 * room is 5001, a node without a chain is 5009, an unreachable chain is 5012 naming the RPC.
 */
import './polyfills.ts'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { once } from 'node:events'
import { Contract, JsonRpcProvider, Wallet, ZeroAddress, hexlify, randomBytes } from 'ethers'
import { deployAll, startChain } from '@peerloom/contracts'
import type { Chain, Deployment } from '@peerloom/contracts'
import { ErrorCode, isPeerloomError } from '@peerloom/shared'
import type { NodeSettings } from '@peerloom/shared'
import registryAbi from '@peerloom/shared/abi/ContentRegistry.json' with { type: 'json' }
import { RegistryRoomKeys } from '../src/calls/room-keys.ts'
import type { StoredGrant } from '../src/rewards/rewards-db.ts'

const PUBLIC_POLICY = { kind: 0, token: ZeroAddress, id: 0n, minBalance: 0n }

describe('gated room keys', () => {
  let chain: Chain
  let deployment: Deployment
  let publisher: Wallet
  let room: string
  const asked: Array<{ contentId: string, publisher: string, options: { fresh?: boolean, signal?: AbortSignal } }> = []
  const key = new Uint8Array(32).fill(7)
  const keyClient = {
    keyForContent: async (contentId: string, owner: string, options: { fresh?: boolean, signal?: AbortSignal } = {}): Promise<StoredGrant> => {
      asked.push({ contentId, publisher: owner, options })
      return { contentId, keyVersion: 3, key } as unknown as StoredGrant
    }
  }
  const roomKeys = (settings: Partial<NodeSettings>): RegistryRoomKeys => new RegistryRoomKeys({ settings: () => settings as NodeSettings, keys: keyClient })
  const chainSettings = (): Partial<NodeSettings> => ({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, contentRegistry: deployment.registry })

  before(async () => {
    chain = await startChain()
    const provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 })
    const deployer = new Wallet(chain.accounts[0] as string, provider)
    publisher = new Wallet(chain.accounts[1] as string, provider)
    deployment = await deployAll(deployer, { devnetTokens: false })
    room = hexlify(randomBytes(32))
    const registry = new Contract(deployment.registry, registryAbi, publisher)
    const expiry = BigInt(Math.floor(Date.now() / 1000) + 86_400)
    await (await registry.getFunction('register')(room, 'peerloom-room', 1, PUBLIC_POLICY, 1n, 0n, expiry)).wait()
  })

  after(async () => {
    await chain?.stop()
  })

  it('asks the KeyClient for the room with the registry\'s publisher and the caller\'s options', async () => {
    const keys = roomKeys(chainSettings())
    const signal = AbortSignal.timeout(10_000)
    const got = await keys.key(room, { fresh: true, signal })
    assert.deepEqual(got, { key, keyVersion: 3 })
    assert.equal(asked.at(-1)?.publisher, publisher.address)
    assert.equal(asked.at(-1)?.options.fresh, true)
    assert.equal(asked.at(-1)?.options.signal, signal)
  })

  it('refuses a room the registry does not know with 5001', async () => {
    const unknown = hexlify(randomBytes(32))
    await assert.rejects(roomKeys(chainSettings()).key(unknown, { fresh: false }), (err: unknown) => {
      assert.ok(isPeerloomError(err))
      assert.equal(err.code, ErrorCode.NOT_FOUND)
      assert.match(err.message, new RegExp(`no room ${unknown} is registered`))
      return true
    })
  })

  it('says what is missing when the node has no chain configured (5009)', async () => {
    await assert.rejects(roomKeys({ chainId: chain.chainId }).key(hexlify(randomBytes(32)), { fresh: false }), (err: unknown) => {
      assert.ok(isPeerloomError(err))
      assert.equal(err.code, ErrorCode.BAD_CONFIG)
      assert.match(err.message, /no chain configured/)
      return true
    })
  })

  it('gives a coded ChainError (5012) naming the RPC when the chain is unreachable', async () => {
    // a port nothing listens on: taken, then closed
    const server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as { port: number }
    server.close()
    await once(server, 'close')
    const rpcUrl = `http://127.0.0.1:${port}`
    const before = asked.length
    await assert.rejects(roomKeys({ ...chainSettings(), rpcUrl }).key(hexlify(randomBytes(32)), { fresh: true }), (err: unknown) => {
      assert.ok(isPeerloomError(err))
      assert.equal(err.code, ErrorCode.CHAIN)
      assert.match(err.message, new RegExp(`^cannot look up room 0x[0-9a-f]{64} in the ContentRegistry: chain unreachable at ${rpcUrl} \\(`))
      return true
    })
    assert.equal(asked.length, before, 'the key service is not asked without a publisher')
  })
})
