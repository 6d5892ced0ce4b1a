/**
 * The key service and chain registration on a real anvil chain: `peerloom publish --gated`
 * registers content with an ERC-721 policy and a budget; the origin grants the key (wrapped to
 * the viewer) and a publisher-signed grant only for a valid, fresh, single-use request from a
 * pass holder; refusals say why; `--rotate` makes new grants carry the new key.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CarBlockIterator } from '@ipld/car/iterator'
import { MemoryBlockstore } from 'blockstore-core'
import { Contract, JsonRpcProvider, Wallet } from 'ethers'
import { CID } from 'multiformats/cid'
import { startChain, deployAll, writeDeployment, loadArtifacts } from '@peerloom/contracts'
import type { Chain, Deployment } from '@peerloom/contracts'
import {
  ChunkCipher, createKeyRequest, decodeManifest, fromHex, keyGrantSchema, openRange, parseLink, peerloomDomain, randomBytes,
  signKeyRequest, unixfsChunkReader, unwrapContentKey, verifyGrant
} from '@peerloom/shared'
import type { KeyGrant } from '@peerloom/shared'
import registryAbi from '@peerloom/shared/abi/ContentRegistry.json' with { type: 'json' }
import { verifyOriginBlock } from '../src/origin/blocks.ts'
import { grantAllowance } from '../src/keys/key-service.ts'
import { PEERLOOM_BIN, removeDir, runCli, startRelay, tempDir } from './helpers.ts'
import type { RunningRelay } from './helpers.ts'

interface Printed {
  link: string
  manifest: string
  root: string
  contentId: string
  registration?: { chainId: number, registry: string, publisher: string, tx: string, block: number, keyVersion: number, rotated: boolean, policy: string, ratePerByte: string, budget: string, budgetExpiry: number }
}

/** Reads a content's blocks from the origin's gateway (each verified) and opens it with `key`. */
async function openWithKey (http: string, manifestCid: string, key: Uint8Array): Promise<Uint8Array> {
  const res = await fetch(`${http}/ipfs/${manifestCid}?format=raw`)
  assert.equal(res.status, 200)
  const manifestBytes = new Uint8Array(await res.arrayBuffer())
  await verifyOriginBlock(CID.parse(manifestCid), manifestBytes)
  const manifest = decodeManifest(manifestBytes)
  const car = await fetch(`${http}/ipfs/${manifest.root.toString()}?format=car`)
  const store = new MemoryBlockstore()
  for await (const block of await CarBlockIterator.fromBytes(new Uint8Array(await car.arrayBuffer()))) {
    await verifyOriginBlock(block.cid, block.bytes)
    await store.put(block.cid, block.bytes)
  }
  const cipher = await ChunkCipher.create(key, fromHex(manifest.contentId, 32))
  const parts: Uint8Array[] = []
  for await (const part of openRange({ cipher, size: manifest.size, chunkSize: manifest.chunkSize, start: 0, end: manifest.size, readChunk: unixfsChunkReader(store, manifest.root, manifest.size, manifest.chunkSize) })) parts.push(part)
  return Buffer.concat(parts)
}

describe('key service and registration on chain', () => {
  let chain: Chain
  let deployment: Deployment
  let provider: JsonRpcProvider
  let origin: RunningRelay
  let work: string
  let dataDir: string
  let deploymentFile: string
  let publisher: Wallet
  let holder: Wallet
  let stranger: Wallet
  let file: Uint8Array
  let gated: Printed

  const keysUrl = (): string => `${origin.http}/keys/v1`
  const domain = (): string => new URL(origin.http).host
  const ask = async (wallet: Wallet, contentId: string, fields: { domain?: string, chainId?: number } = {}): Promise<{ status: number, body: any, signed: { message: string, signature: string } }> => {
    const request = createKeyRequest({ domain: fields.domain ?? domain(), address: wallet.address, uri: keysUrl(), chainId: fields.chainId ?? chain.chainId, contentId })
    const signed = await signKeyRequest(wallet, request)
    return { ...await post(signed), signed }
  }
  const post = async (body: unknown): Promise<{ status: number, body: any }> => {
    const res = await fetch(keysUrl(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: res.status, body: await res.json() }
  }
  const publish = async (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> =>
    await runCli(PEERLOOM_BIN, ['publish', join(work, 'film.bin'), '--data', dataDir, '--quiet', '--chunk-size', '64KiB', '--rpc', chain.rpcUrl, '--deployment', deploymentFile, ...args], { PEERLOOM_PUBLISHER_KEY: publisher.privateKey })

  before(async () => {
    await loadArtifacts()
    chain = await startChain()
    provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1, pollingInterval: 50 })
    const deployer = new Wallet(chain.accounts[0] as string, provider)
    publisher = new Wallet(chain.accounts[1] as string, provider)
    holder = Wallet.createRandom().connect(provider) as unknown as Wallet
    stranger = Wallet.createRandom().connect(provider) as unknown as Wallet
    deployment = await deployAll(deployer, { mint: [{ to: publisher.address, amount: 10n ** 24n }] })
    const pass = new Contract(deployment.pass as string, ['function mint(address) returns (uint256)'], deployer)
    await (await pass.getFunction('mint')(holder.address)).wait()
    work = await tempDir('peerloom-keys-test-')
    dataDir = join(work, 'origin')
    deploymentFile = join(work, 'deployment.json')
    await writeDeployment(deploymentFile, deployment)
    file = randomBytes(300_000)
    await writeFile(join(work, 'film.bin'), file)
    await writeFile(join(work, 'publisher.key'), publisher.privateKey)
    origin = await startRelay(['--origin', '--rpc', chain.rpcUrl, '--deployment', deploymentFile, '--publisher-key-file', join(work, 'publisher.key')], { data: dataDir })
    const cli = await publish(['--gated', '--policy', `erc721:${deployment.pass as string}`, '--rate', '3', '--budget', '5000000'])
    assert.equal(cli.code, 0, cli.stderr)
    gated = JSON.parse(cli.stdout) as Printed
  })

  after(async () => {
    await origin?.stop()
    await chain?.stop()
    if (work !== undefined) await removeDir(work)
  })

  it('publish --gated prints a keyless link and registers the content with its policy, rate and budget', async () => {
    assert.match(gated.link, /^peerloom:\/\/b[a-z2-7]+$/, 'no #k= in a gated link')
    const reg = gated.registration
    assert.ok(reg !== undefined)
    assert.equal(reg.publisher, publisher.address)
    assert.equal(reg.keyVersion, 1)
    assert.equal(reg.policy, `erc721:${deployment.pass as string}`)
    assert.match(reg.tx, /^0x[0-9a-f]{64}$/)
    const registry = new Contract(deployment.registry, registryAbi, provider)
    const c = await registry.getFunction('content')(gated.contentId)
    assert.equal(c.publisher, publisher.address)
    assert.equal(c.manifestCid, gated.manifest)
    assert.equal(c.ratePerByte, 3n)
    assert.equal(c.budget, 5_000_000n)
    assert.equal(c.policy.kind, 2n)
    assert.equal(c.policy.token, deployment.pass)
    assert.equal(await registry.getFunction('hasAccess')(gated.contentId, holder.address), true)
    const keyFile = await stat(join(dataDir, 'keys', gated.contentId, 'v1.json'))
    assert.equal(keyFile.mode & 0o777, 0o600, 'key file readable by the origin operator only')
  })

  it('grants a pass holder the key, wrapped to the holder, with a grant signed by the publisher', async () => {
    const { status, body } = await ask(holder, gated.contentId)
    assert.equal(status, 200, JSON.stringify(body))
    const answer: KeyGrant = keyGrantSchema.parse(body)
    assert.equal(answer.manifest, gated.manifest)
    assert.equal(answer.keyVersion, 1)
    const grant = { client: answer.grant.client, contentId: answer.grant.contentId, maxBytes: BigInt(answer.grant.maxBytes), expiry: BigInt(answer.grant.expiry) }
    assert.equal(grant.client, holder.address)
    assert.equal(grant.maxBytes, grantAllowance(file.length, 64 * 1024))
    assert.ok(grant.expiry > BigInt(Math.floor(Date.now() / 1000) + 3600), 'a grant outlives an epoch and its claim')
    verifyGrant(peerloomDomain(chain.chainId, deployment.pool), grant, answer.grantSignature, publisher.address)
    assert.throws(() => unwrapContentKey(stranger.privateKey, fromHex(answer.wrappedKey)), /does not open/, 'only the requester can unwrap')
    const key = unwrapContentKey(holder.privateKey, fromHex(answer.wrappedKey))
    const bytes = await openWithKey(origin.http, answer.manifest, key)
    assert.ok(Buffer.from(bytes).equals(Buffer.from(file)), 'the granted key opens the content to the published bytes')
    assert.equal(parseLink(gated.link).key, undefined)
  })

  it('refuses a viewer without the pass with a reason a person understands (5011)', async () => {
    const { status, body } = await ask(stranger, gated.contentId)
    assert.equal(status, 403)
    assert.equal(body.error.code, 5011)
    assert.equal(body.error.message, `needs at least 1 DevnetPass (ERC-721 ${deployment.pass as string}); ${stranger.address} holds 0`)
    assert.equal(body.wrappedKey, undefined)
  })

  it('refuses replayed, forged, misaddressed and malformed requests', async () => {
    const first = await ask(holder, gated.contentId)
    assert.equal(first.status, 200)
    const replay = await post(first.signed)
    assert.equal(replay.status, 403)
    assert.match(replay.body.error.message, /already used/)

    // signed by someone else than the address in the message
    const request = createKeyRequest({ domain: domain(), address: holder.address, uri: keysUrl(), chainId: chain.chainId, contentId: gated.contentId })
    const forged = await signKeyRequest(stranger, request)
    const forgedAnswer = await post(forged)
    assert.equal(forgedAnswer.status, 422)
    assert.equal(forgedAnswer.body.error.code, 5008)
    assert.match(forgedAnswer.body.error.message, /signed by .* not by/)

    const elsewhere = await ask(holder, gated.contentId, { domain: 'evil.example:443' })
    assert.equal(elsewhere.status, 422)
    assert.match(elsewhere.body.error.message, /is for evil\.example:443/)
    const otherChain = await ask(holder, gated.contentId, { chainId: 1 })
    assert.equal(otherChain.status, 422)
    assert.match(otherChain.body.error.message, /chain 1/)

    const expired = createKeyRequest({ domain: domain(), address: holder.address, uri: keysUrl(), chainId: chain.chainId, contentId: gated.contentId, now: Date.now() - 3_600_000 })
    const late = await post(await signKeyRequest(holder, expired))
    assert.equal(late.status, 422)
    assert.match(late.body.error.message, /expired/)

    for (const junk of [{}, { message: 'hi', signature: '0x00' }, { message: first.signed.message }, 'text']) {
      const answer = await post(junk)
      assert.equal(answer.status, 400, JSON.stringify(junk))
      assert.equal(answer.body.error.code, 5000)
    }
    const unknown = await ask(holder, `0x${'ab'.repeat(32)}`)
    assert.equal(unknown.status, 404)
    assert.match(unknown.body.error.message, /not registered/)
  })

  it('publish --rotate registers a new key version; new grants carry the new key and manifest', async () => {
    const before = await ask(holder, gated.contentId)
    const oldKey = unwrapContentKey(holder.privateKey, fromHex(before.body.wrappedKey as string))
    const cli = await publish(['--rotate', '--content-id', gated.contentId])
    assert.equal(cli.code, 0, cli.stderr)
    const rotated = JSON.parse(cli.stdout) as Printed
    assert.equal(rotated.contentId, gated.contentId)
    assert.equal(rotated.registration?.keyVersion, 2)
    assert.equal(rotated.registration?.rotated, true)
    assert.notEqual(rotated.manifest, gated.manifest)
    assert.match(rotated.link, /^peerloom:\/\/b[a-z2-7]+$/, 'a rotated gated content stays keyless')

    const after = await ask(holder, gated.contentId)
    assert.equal(after.status, 200)
    assert.equal(after.body.keyVersion, 2)
    assert.equal(after.body.manifest, rotated.manifest)
    const newKey = unwrapContentKey(holder.privateKey, fromHex(after.body.wrappedKey as string))
    assert.notDeepEqual(newKey, oldKey)
    const bytes = await openWithKey(origin.http, rotated.manifest, newKey)
    assert.ok(Buffer.from(bytes).equals(Buffer.from(file)))
    assert.equal(decodeManifest(new Uint8Array(await (await fetch(`${origin.http}/ipfs/${rotated.manifest}?format=raw`)).arrayBuffer())).keyVersion, 2)
  })

  it('publish refuses chain options that cannot work, naming them (exit 2)', async () => {
    const noPolicy = await publish(['--gated'])
    assert.equal(noPolicy.code, 2)
    assert.match(noPolicy.stderr, /--gated needs --policy/)
    const badPolicy = await publish(['--gated', '--policy', 'erc721:nope'])
    assert.equal(badPolicy.code, 2)
    assert.match(badPolicy.stderr, /not a token address/)
    const noChain = await runCli(PEERLOOM_BIN, ['publish', join(work, 'film.bin'), '--data', dataDir, '--gated', '--policy', 'public'], { PEERLOOM_PUBLISHER_KEY: publisher.privateKey })
    assert.equal(noChain.code, 2)
    assert.match(noChain.stderr, /needs the chain: pass --rpc/)
    const taken = await publish(['--content-id', gated.contentId])
    assert.equal(taken.code, 2)
    assert.match(taken.stderr, /already registered/)
  })
})
