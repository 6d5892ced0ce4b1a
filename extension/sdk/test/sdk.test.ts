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
import { GatewayClient, Peerloom, ProgressMeter, STATE_CHANGE_EVENT, detectProvider } from '../src/index.ts'

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
  assert.equal(stats.bytesRead, stats.bytesFromPeers + stats.bytesFromOrigin + stats.bytesFromCache)
  const rows = await client.contentStats()
  assert.equal(rows.length, 1)
  assert.deepEqual([rows[0]!.cid, rows[0]!.name, rows[0]!.size, rows[0]!.fetches, rows[0]!.bytesDelivered, rows[0]!.bytesFromOrigin, rows[0]!.bytesRead], [cid.toString(), 'sample.bin', size, 2, size + 100, stats.bytesFromOrigin, stats.bytesRead])
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
  const refused = await peerloom.connect()
  assert.equal(refused.peerId, null, 'a refused connect resolves without a peer id')
  assert.equal(refused.refusal?.message, 'the user said no')
  assert.equal(peerloom.mode, 'gateway')
  assert.equal(peerloom.state, 'refused', 'the extension is there: refused, not absent')
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

test('connection state: restored without a prompt; a Deny is "refused" with when to ask again; Allow later connects; a revocation is noticed', async () => {
  const answers: Array<() => unknown> = [
    () => { throw new UnauthorizedError('not connected yet') }, // restore: the site has not asked
    () => { throw new UserRejectedError('you chose Deny; connect() may ask again in 10 min', { data: { reason: 'denied', retryAfterMs: 600_000 } }) },
    () => ({ peerId: 'peer-1' })
  ]
  const prompts: unknown[] = []
  let allowed = true
  const provider = {
    isPeerloom: true,
    connect: async (options: unknown) => { prompts.push(options); return answers.shift()!() },
    stats: async () => {
      if (!allowed) throw new UnauthorizedError('not allowed')
      return { origin: 'x', fetches: 1, bytesDelivered: 0, bytesRead: 0, bytesFromPeers: 0, bytesFromOrigin: 0, bytesFromCache: 0, published: 0, bytesPublished: 0 }
    }
  } as unknown as PeerloomProvider
  const peerloom = new Peerloom(provider, null, { gateways: [gateway.url] })
  const seen: string[] = []
  peerloom.addEventListener(STATE_CHANGE_EVENT, () => { seen.push(peerloom.state) })
  assert.equal(await peerloom.restore(), 'not-connected')
  assert.deepEqual(prompts, [{ prompt: false }])
  const before = Date.now()
  const refused = await peerloom.connect()
  assert.equal(peerloom.state, 'refused')
  assert.equal(refused.refusal?.reason, 'denied')
  assert.ok(refused.refusal!.retryAt >= before + 600_000 && refused.refusal!.retryAt <= Date.now() + 600_000)
  assert.equal(peerloom.refusal, refused.refusal)
  assert.equal(peerloom.mode, 'gateway')
  assert.deepEqual(await peerloom.connect(), { peerId: 'peer-1' }, 'connect() goes to the extension again')
  assert.deepEqual([peerloom.state, peerloom.peerId, peerloom.refusal, peerloom.mode], ['connected', 'peer-1', null, 'extension'])
  allowed = false // revoked in Options
  assert.equal((await peerloom.stats()).fetches, 0, 'served by the gateway')
  assert.equal(peerloom.state, 'refused')
  assert.equal(peerloom.refusal?.reason, 'revoked')
  assert.deepEqual(seen, ['refused', 'connected', 'refused'])
  const absent = new Peerloom(null, null, { gateways: [gateway.url] })
  assert.deepEqual([await absent.restore(), absent.mode, (await absent.connect()).peerId], ['no-extension', 'gateway', null])
})

test('publish progress: the rate is smoothed, and there is no ETA until enough data', () => {
  let now = 0
  const total = 100 * 1024 * 1024
  const meter = new ProgressMeter(total, { now: () => now })
  // the first credit window goes out at once: a burst that must not set the ETA
  const burst = meter.update(6 * 1024 * 1024)
  assert.deepEqual([burst.fraction, burst.bytesPerSecond, burst.etaSeconds], [6 / 100, null, null])
  let bytes = 6 * 1024 * 1024
  const etas: number[] = []
  for (let i = 1; i <= 40; i++) {
    now += 250
    // a steady 4 MiB/s that arrives unevenly: 2 MiB, then nothing
    if (i % 2 === 0) bytes += 2 * 1024 * 1024
    const p = meter.update(bytes)
    if (now < 1000) assert.equal(p.etaSeconds, null, `no ETA at ${now} ms`)
    else etas.push(p.etaSeconds!)
  }
  const rate = meter.update(bytes).bytesPerSecond!
  assert.ok(Math.abs(rate - 4 * 1024 * 1024) / (4 * 1024 * 1024) < 0.35, `rate ${rate}`)
  for (let i = 1; i < etas.length; i++) assert.ok(Math.abs(etas[i]! - etas[i - 1]!) < 0.35 * etas[i - 1]! + 1, `ETA jumped from ${etas[i - 1]} to ${etas[i]}`)
  assert.equal(meter.update(total).etaSeconds, 0)
  assert.equal(meter.update(total).fraction, 1)
})
