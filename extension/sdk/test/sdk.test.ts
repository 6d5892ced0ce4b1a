import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryBlockstore } from 'blockstore-core'
import { Wallet } from 'ethers'
import {
  ChunkCipher, createManifest, encodeManifest, formatLink, importSealedFile, manifestCid, randomBytes, signManifest, toHex,
  UnauthorizedError, UserRejectedError, ErrorCode, ANNOUNCE_EVENT, REQUEST_EVENT
} from '@peerloom/shared'
import type { PeerloomProvider } from '@peerloom/shared'
import { startTestGateway } from '../../../shared/test/support/gateway.ts'
import { GatewayClient, Peerloom, detectProvider } from '../src/index.ts'

const blockstore = new MemoryBlockstore()
const publisher = Wallet.createRandom()
const data = randomBytes(200_000)
const key = randomBytes(32)
const contentId = randomBytes(32)
const cipher = await ChunkCipher.create(key, contentId)
const { root, size } = await importSealedFile([data], blockstore, { cipher, chunkSize: 16384 })
const manifest = await signManifest(createManifest({ contentId: toHex(contentId), name: 'sample.bin', mime: 'application/octet-stream', size, chunkSize: 16384, root, publisher: publisher.address }), publisher)
const manifestBytes = encodeManifest(manifest)
const cid = await manifestCid(manifestBytes)
await blockstore.put(cid, manifestBytes)
const link = formatLink({ manifest: cid, key })
const gateway = await startTestGateway(blockstore)
after(gateway.close)

test('without the extension, fetch reads from the gateway, verified, whole and by range', async () => {
  const client = new GatewayClient({ gateways: [gateway.url] })
  const whole = await client.fetch(link)
  assert.equal(whole.status, 200)
  assert.deepEqual(new Uint8Array(await whole.arrayBuffer()), data)
  const part = await client.fetch(link, { headers: { Range: 'bytes=100000-100099' } })
  assert.equal(part.status, 206)
  assert.deepEqual(new Uint8Array(await part.arrayBuffer()), data.subarray(100000, 100100))
  const stats = await client.stats()
  assert.equal(stats.fetches, 2)
  assert.equal(stats.bytesDelivered, size + 100)
  assert.ok(stats.bytesFromOrigin > size)
})

test('a link without a key, a malformed link and a forged manifest are refused with codes', async () => {
  const client = new GatewayClient({ gateways: [gateway.url] })
  await assert.rejects(client.fetch(formatLink({ manifest: cid })), { code: ErrorCode.ACCESS_DENIED })
  await assert.rejects(client.fetch('peerloom://nope'), { code: ErrorCode.BAD_LINK })
  const forged = new MemoryBlockstore()
  const other = Wallet.createRandom()
  const fake = encodeManifest({ ...manifest, publisher: other.address })
  const fakeCid = await manifestCid(fake)
  await forged.put(fakeCid, fake)
  const forgedGateway = await startTestGateway(forged)
  after(forgedGateway.close)
  await assert.rejects(new GatewayClient({ gateways: [forgedGateway.url] }).fetch(formatLink({ manifest: fakeCid, key })), { code: ErrorCode.BAD_SIGNATURE })
  await assert.rejects(new Peerloom(null, null, { gateways: [gateway.url] }).publish(new Blob([])), { code: ErrorCode.UNSUPPORTED_METHOD })
})

test('with the extension, calls go to it; a refusal falls back to the gateway', async () => {
  const calls: string[] = []
  const provider = {
    isPeerloom: true,
    connect: async () => { calls.push('connect'); throw new UserRejectedError('the user said no') },
    fetch: async () => { calls.push('fetch'); throw new UnauthorizedError('no consent') },
    stats: async () => { calls.push('stats'); return { origin: 'x', fetches: 9, bytesDelivered: 0, bytesFromPeers: 0, bytesFromOrigin: 0, published: 0, bytesPublished: 0 } }
  } as unknown as PeerloomProvider
  const peerloom = new Peerloom(provider, null, { gateways: [gateway.url] })
  assert.equal(peerloom.mode, 'extension')
  assert.equal((await peerloom.stats()).fetches, 9)
  const response = await peerloom.fetch(link)
  assert.deepEqual(new Uint8Array(await response.arrayBuffer()), data)
  assert.equal(peerloom.mode, 'extension', 'not being connected yet (4100) is not a refusal')
  assert.deepEqual(calls, ['stats', 'fetch'])
  assert.deepEqual(await peerloom.connect(), { peerId: null }, 'a refused connect resolves without a peer id')
  assert.equal(peerloom.mode, 'gateway')
  const strict = new Peerloom(provider, null, { gateways: [gateway.url], fallbackOnRefusal: false })
  await assert.rejects(strict.fetch(link), { code: ErrorCode.UNAUTHORIZED })
})

test('detection: an announcing provider is found; silence times out to null', async () => {
  const provider = { isPeerloom: true } as unknown as PeerloomProvider
  const target = new EventTarget() as unknown as Window
  target.addEventListener(REQUEST_EVENT, () => {
    target.dispatchEvent(new CustomEvent(ANNOUNCE_EVENT, { detail: { info: { uuid: 'u', name: 'Peerloom', icon: 'data:,', rdns: 'dev.peerloom' }, provider } }))
  })
  const found = await detectProvider({ target, timeoutMs: 200 })
  assert.equal(found?.provider, provider)
  assert.equal(found?.info?.rdns, 'dev.peerloom')
  assert.equal(await detectProvider({ target: new EventTarget() as unknown as Window, timeoutMs: 50 }), null)
})
