/**
 * Token-gated rooms on a real anvil chain (docs/CALLS.md, Token-gated rooms): `peerloom room
 * create` registers a room with an ERC-721 policy and a budget; the origin's key service grants
 * the room key to pass holders only, remembers them, and when one gives its pass away removes
 * it, re-keys the room on chain and publishes the rekey notice, which reaches a member on
 * another relay; the removed holder is refused (5011), the others get the new key.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import type { GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import type { Libp2p } from '@libp2p/interface'
import { webSockets } from '@libp2p/websockets'
import { Contract, Interface, JsonRpcProvider, Wallet } from 'ethers'
import { createLibp2p } from 'libp2p'
import { startChain, deployAll, writeDeployment, loadArtifacts } from '@peerloom/contracts'
import type { Chain, Deployment } from '@peerloom/contracts'
import { createKeyRequest, fromHex, keyGrantSchema, peerloomDomain, signKeyRequest, unwrapContentKey, verifyGrant } from '@peerloom/shared'
import { GATED_ROOM_MANIFEST } from '@peerloom/shared/calls/gated-room'
import { parseEnvelope } from '@peerloom/shared/calls/room'
import registryAbi from '@peerloom/shared/abi/ContentRegistry.json' with { type: 'json' }
import { DEFAULT_ROOM_GRANT_BYTES } from '../src/keys/rooms.ts'
import { PEERLOOM_BIN, eventually, removeDir, runCli, startRelay, tempDir } from './helpers.ts'
import type { RunningRelay } from './helpers.ts'

interface Created {
  room: string
  topic: string
  keyVersion: number
  registration: { chainId: number, publisher: string, tx: string, keyVersion: number, policy: string, ratePerByte: string, budget: string, grantBytes: string }
}

const PASS_ABI = ['function mint(address) returns (uint256)', 'function transferFrom(address, address, uint256)', 'event Transfer(address indexed from, address indexed to, uint256 indexed tokenId)']

describe('token-gated rooms', () => {
  let chain: Chain
  let deployment: Deployment
  let provider: JsonRpcProvider
  let origin: RunningRelay
  let relay: RunningRelay
  let member: Libp2p<{ pubsub: GossipSub, identify: unknown }>
  let work: string
  let dataDir: string
  let deploymentFile: string
  let publisher: Wallet
  let holder: Wallet
  let other: Wallet
  let stranger: Wallet
  let holderPass: bigint
  let created: Created
  const notices: Array<{ from: string, notice: { v: 1, notice: 'rekey', kv: number } }> = []

  const keysUrl = (): string => `${origin.http}/keys/v1`
  const ask = async (wallet: Wallet, contentId: string): Promise<{ status: number, body: any }> => {
    const request = createKeyRequest({ domain: new URL(origin.http).host, address: wallet.address, uri: keysUrl(), chainId: chain.chainId, contentId })
    const res = await fetch(keysUrl(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(await signKeyRequest(wallet, request)) })
    return { status: res.status, body: await res.json() }
  }
  const roomCli = async (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> =>
    await runCli(PEERLOOM_BIN, ['room', 'create', '--data', dataDir, '--rpc', chain.rpcUrl, '--deployment', deploymentFile, ...args], { PEERLOOM_PUBLISHER_KEY: publisher.privateKey })

  before(async () => {
    await loadArtifacts()
    chain = await startChain()
    provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1, pollingInterval: 50 })
    const deployer = new Wallet(chain.accounts[0] as string, provider)
    publisher = new Wallet(chain.accounts[1] as string, provider)
    holder = new Wallet(chain.accounts[2] as string, provider)
    other = new Wallet(chain.accounts[3] as string, provider)
    stranger = Wallet.createRandom().connect(provider) as unknown as Wallet
    deployment = await deployAll(deployer, { mint: [{ to: publisher.address, amount: 10n ** 24n }] })
    const pass = new Contract(deployment.pass as string, PASS_ABI, deployer)
    const minted = await (await pass.getFunction('mint')(holder.address)).wait()
    const transfer = new Interface(PASS_ABI).parseLog(minted.logs[0])
    holderPass = transfer?.args.tokenId as bigint
    await (await pass.getFunction('mint')(other.address)).wait()

    work = await tempDir('peerloom-rooms-test-')
    dataDir = join(work, 'origin')
    deploymentFile = join(work, 'deployment.json')
    await writeDeployment(deploymentFile, deployment)
    await writeFile(join(work, 'publisher.key'), publisher.privateKey)
    origin = await startRelay(['--origin', '--rpc', chain.rpcUrl, '--deployment', deploymentFile, '--publisher-key-file', join(work, 'publisher.key'), '--holder-check-ms', '300'], { data: dataDir })
    relay = await startRelay(['--bootstrap', origin.ws.toString()])

    const cli = await roomCli(['--policy', `erc721:${deployment.pass as string}`, '--rate', '2', '--budget', '1000000'])
    assert.equal(cli.code, 0, cli.stderr)
    created = JSON.parse(cli.stdout) as Created

    // a member of the room on the other relay, to hear the key service's notice
    member = await createLibp2p({
      transports: [webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: { denyDialMultiaddr: () => false },
      services: { identify: identify(), ping: ping(), pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false }) }
    }) as unknown as typeof member
    member.services.pubsub.addEventListener('message', event => {
      try {
        const envelope = parseEnvelope(event.detail.data)
        if ('notice' in envelope && event.detail.type === 'signed') notices.push({ from: event.detail.from.toString(), notice: envelope })
      } catch {
        // only the notice matters here
      }
    })
    await member.dial(relay.ws, { signal: AbortSignal.timeout(30_000) })
    member.services.pubsub.subscribe(created.topic)
  })

  after(async () => {
    await member?.stop()
    await relay?.stop()
    await origin?.stop()
    await chain?.stop()
    if (relay !== undefined) await removeDir(relay.data)
    if (work !== undefined) await removeDir(work)
  })

  it('room create registers the room with its policy, rate and budget, and stores key version 1 with the origin', async () => {
    assert.match(created.room, /^0x[0-9a-f]{64}$/)
    assert.equal(created.topic, `/peerloom/room/1/${created.room.slice(2)}`)
    assert.equal(created.keyVersion, 1)
    assert.equal(created.registration.publisher, publisher.address)
    assert.equal(created.registration.policy, `erc721:${deployment.pass as string}`)
    assert.equal(created.registration.grantBytes, DEFAULT_ROOM_GRANT_BYTES.toString())
    const registry = new Contract(deployment.registry, registryAbi, provider)
    const c = await registry.getFunction('content')(created.room)
    assert.equal(c.publisher, publisher.address)
    assert.equal(c.manifestCid, GATED_ROOM_MANIFEST)
    assert.equal(c.keyVersion, 1n)
    assert.equal(c.ratePerByte, 2n)
    assert.equal(c.budget, 1_000_000n)
    assert.equal(c.policy.kind, 2n)
    const keyFile = await stat(join(dataDir, 'keys', created.room, 'v1.json'))
    assert.equal(keyFile.mode & 0o777, 0o600)
  })

  it('refuses a viewer without the pass (5011) and grants a holder the room key with a room-sized grant', async () => {
    const refused = await ask(stranger, created.room)
    assert.equal(refused.status, 403)
    assert.equal(refused.body.error.code, 5011)
    assert.match(refused.body.error.message, /needs at least 1 DevnetPass .* holds 0/)

    for (const wallet of [holder, other]) {
      const { status, body } = await ask(wallet, created.room)
      assert.equal(status, 200, JSON.stringify(body))
      const answer = keyGrantSchema.parse(body)
      assert.equal(answer.keyVersion, 1)
      assert.equal(answer.manifest, GATED_ROOM_MANIFEST)
      assert.equal(answer.grant.maxBytes, DEFAULT_ROOM_GRANT_BYTES.toString())
      const grant = { client: answer.grant.client, contentId: answer.grant.contentId, maxBytes: BigInt(answer.grant.maxBytes), expiry: BigInt(answer.grant.expiry) }
      verifyGrant(peerloomDomain(chain.chainId, deployment.pool), grant, answer.grantSignature, publisher.address)
      assert.equal(unwrapContentKey(wallet.privateKey, fromHex(answer.wrappedKey)).length, 32)
    }
    const holders = JSON.parse(await readFile(join(dataDir, 'keys', created.room, 'holders.json'), 'utf8')) as { holders: Record<string, number> }
    assert.deepEqual(Object.keys(holders.holders).sort(), [holder.address, other.address].sort())
  })

  it('removes a holder whose pass is gone, re-keys the room on chain and tells the room', async () => {
    const before = unwrapContentKey(other.privateKey, fromHex((await ask(other, created.room)).body.wrappedKey as string))
    // the member's relay carries the room once the member is in it, and the origin sees that
    await eventually(async () => ((await (await fetch(`${relay.http}/health`)).json()) as { rooms: number }).rooms === 1 ? true : undefined, 'the member\'s relay carrying the room')

    const pass = new Contract(deployment.pass as string, PASS_ABI, holder)
    await (await pass.getFunction('transferFrom')(holder.address, stranger.address, holderPass)).wait()

    const registry = new Contract(deployment.registry, registryAbi, provider)
    await eventually(async () => (await registry.getFunction('content')(created.room)).keyVersion === 2n ? true : undefined, 'the room re-keyed to version 2 on chain')
    const notice = await eventually(() => notices.find(({ notice }) => notice.kv === 2), 'the rekey notice reaching the member on the other relay')
    assert.equal(notice.from, origin.peerId, 'the notice comes from the origin\'s own peer id')
    assert.deepEqual(notice.notice, { v: 1, notice: 'rekey', kv: 2 })

    const removed = await ask(holder, created.room)
    assert.equal(removed.status, 403)
    assert.equal(removed.body.error.code, 5011)
    assert.match(removed.body.error.message, /holds 0/)

    const kept = await ask(other, created.room)
    assert.equal(kept.status, 200)
    assert.equal(kept.body.keyVersion, 2)
    const after = unwrapContentKey(other.privateKey, fromHex(kept.body.wrappedKey as string))
    assert.notDeepEqual(after, before, 'the new key version is a new key')
    const holders = JSON.parse(await readFile(join(dataDir, 'keys', created.room, 'holders.json'), 'utf8')) as { holders: Record<string, number> }
    assert.deepEqual(Object.keys(holders.holders), [other.address])
    assert.match(origin.stderr(), new RegExp(`removed ${holder.address} \\(holds 0\\); re-keyed to version 2`))
  })

  it('room create refuses options that cannot work, naming them (exit 2)', async () => {
    const noPolicy = await roomCli([])
    assert.equal(noPolicy.code, 2)
    assert.match(noPolicy.stderr, /--policy is required/)
    const badPolicy = await roomCli(['--policy', 'erc721:nope'])
    assert.equal(badPolicy.code, 2)
    assert.match(badPolicy.stderr, /not a token address/)
    const taken = await roomCli(['--policy', `erc721:${deployment.pass as string}`, '--content-id', created.room])
    assert.equal(taken.code, 2)
    assert.match(taken.stderr, /already registered/)
    const noChain = await runCli(PEERLOOM_BIN, ['room', 'create', '--policy', 'public', '--data', dataDir], { PEERLOOM_PUBLISHER_KEY: publisher.privateKey })
    assert.equal(noChain.code, 2)
    assert.match(noChain.stderr, /--rpc <url> and --deployment/)
    const typo = await runCli(PEERLOOM_BIN, ['room', 'create', '--polcy', 'public'])
    assert.equal(typo.code, 2)
    assert.match(typo.stderr, /did you mean --policy/)
  })
})
