import { expect, test, CONTENT_BYTES } from '../src/fixtures.ts'

test('1. profile A fetches a published 32 MB file from the origin; bytes verified', async ({ devnet, content, launch }) => {
  const a = await launch('a')
  const status = await a.waitReachable()
  expect(status.peerId).toMatch(/^16Uiu2/) // secp256k1 peer id
  expect(status.address).toMatch(/^0x[0-9a-fA-F]{40}$/)
  const transfer = await a.fetchAll(content.link)
  expect(transfer.error).toBeUndefined()
  expect(transfer.bytes).toBe(CONTENT_BYTES)
  expect(transfer.sha256).toBe(content.sha256)
  expect(transfer.stats?.fromOrigin).toBeGreaterThanOrEqual(CONTENT_BYTES)
  expect(transfer.stats?.fromPeers).toBe(0)
  expect((await a.status()).cache.usedBytes).toBeGreaterThanOrEqual(CONTENT_BYTES)
  void devnet
})

test('2. with the origin gone, profile B gets all of the content from A over WebRTC', async ({ devnet, content, launch }) => {
  const a = await launch('a', { donate: true })
  await a.waitReachable()
  const first = await a.fetchAll(content.link)
  expect(first.sha256).toBe(content.sha256)

  await devnet.origin.stop() // the origin stops serving: only A has the content now
  const b = await launch('b', { relays: [devnet.relay.addr], routers: [devnet.relay.http] })
  await b.waitReachable()
  const aId = (await a.status()).peerId as string
  // A announces what it cached to the relays (DHT); wait until the relay's routing API lists it
  await b.waitFor(async () => {
    const response = await fetch(`${devnet.relay.http}/routing/v1/providers/${content.root}`)
    return response.ok && (await response.text()).includes(aId)
  }, 20_000, 'the relay to list A as a provider')

  const transfer = await b.fetchAll(content.link)
  expect(transfer.error).toBeUndefined()
  expect(transfer.sha256).toBe(content.sha256)
  expect(transfer.stats?.fromOrigin).toBe(0)
  expect(transfer.stats?.fromPeers).toBeGreaterThanOrEqual(CONTENT_BYTES)
  expect(Object.keys(transfer.stats?.perPeer ?? {})).toEqual([aId])
  const served = await a.status()
  expect(served.served.bytes).toBeGreaterThanOrEqual(CONTENT_BYTES)
  const bId = (await b.status()).peerId
  expect(served.peers.some(p => p.peerId === bId && p.direct && p.addr.includes('/webrtc'))).toBe(true)
})

test('3. with A\'s donation off, B cannot get the content from A', async ({ devnet, content, launch }) => {
  const a = await launch('a', { donate: true })
  await a.waitReachable()
  expect((await a.fetchAll(content.link)).sha256).toBe(content.sha256)
  const aId = (await a.status()).peerId as string
  const b = await launch('b', { relays: [devnet.relay.addr], routers: [devnet.relay.http] })
  await b.waitReachable()
  await b.waitFor(async () => (await (await fetch(`${devnet.relay.http}/routing/v1/providers/${content.manifest}`)).text()).includes(aId), 20_000, 'A listed as a provider')

  await a.configure({ donate: false }) // A is still listed as a provider, but has withdrawn consent
  await devnet.origin.stop()
  const transfer = await b.fetchAll(content.link, 60_000)
  expect(transfer.sha256).toBeUndefined()
  expect(transfer.bytes).toBe(0)
  expect(transfer.error?.code).toBe(5001)
  expect(transfer.error?.data?.droppedPeers).toMatchObject({ [aId]: expect.stringContaining('not serving') })
  const status = await a.status()
  expect(status.served.bytes).toBe(0)
  expect(status.donate).toBe(false)
})
