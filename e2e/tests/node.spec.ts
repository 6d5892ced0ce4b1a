import { join } from 'node:path'
import * as dagJson from '@ipld/dag-json'
import { ErrorCode, formatLink, manifestCid, parseLink } from '@peerloom/shared'
import { FsBlockstore } from 'blockstore-fs'
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

test('2. with the origin gone, profile B gets all of the content from A over WebRTC', async ({ devnet, content, launch }, testInfo) => {
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
  }, 60_000, 'the relay to list A as a provider')

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
  // PEERS counts other Peerloom nodes, once each; the relays A holds reservations on are listed under relays
  expect(served.peers.map(p => p.peerId)).toEqual([bId])
  expect(served.relays.filter(r => r.connected).length).toBeGreaterThan(0)

  // A's popup after serving: status, identity, relays, peers, cache, the chart, the donation switch
  await expect(a.page.getByTestId('served-bytes')).not.toHaveText('0 B')
  await expect(a.page.getByTestId('donate-switch')).toBeChecked()
  await expect(a.page.getByTestId('peer-id')).toHaveAttribute('title', served.peerId as string)
  // a fresh popup reads status and history together, so once it shows the bytes the chart has the latest bucket
  await a.page.reload()
  await expect(a.page.getByTestId('served-bytes')).not.toHaveText('0 B')
  const shot = testInfo.outputPath('popup-a-after-serving.png')
  await a.page.screenshot({ path: shot, fullPage: true })
  await testInfo.attach('popup', { path: shot, contentType: 'image/png' })
})

test('3. with A\'s donation off, B cannot get the content from A', async ({ devnet, content, launch }) => {
  const a = await launch('a', { donate: true })
  await a.waitReachable()
  expect((await a.fetchAll(content.link)).sha256).toBe(content.sha256)
  const aId = (await a.status()).peerId as string
  const b = await launch('b', { relays: [devnet.relay.addr], routers: [devnet.relay.http] })
  await b.waitReachable()
  await b.waitFor(async () => (await (await fetch(`${devnet.relay.http}/routing/v1/providers/${content.manifest}`)).text()).includes(aId), 60_000, 'A listed as a provider')

  await a.configure({ donate: false }) // A is still listed as a provider, but has withdrawn consent
  await devnet.origin.stop()
  const transfer = await b.fetchAll(content.link)
  expect(transfer.sha256).toBeUndefined()
  expect(transfer.bytes).toBe(0)
  expect(transfer.error?.code).toBe(5001)
  expect(transfer.error?.data?.droppedPeers).toMatchObject({ [aId]: expect.stringContaining('not serving') })
  const status = await a.status()
  expect(status.served.bytes).toBe(0)
  expect(status.donate).toBe(false)
})

test('4. the service worker is stopped during a transfer; the transfer completes', async ({ content, launch }) => {
  const a = await launch('a')
  await a.waitReachable()
  const before = await a.status()
  const started = await a.call<{ id: string }>('startTransfer', { link: content.link })
  await a.waitFor(async () => (await a.call<{ bytes: number }>('transfer', { id: started.id })).bytes > 0, 60_000, 'the first bytes')

  const workerBefore = await a.workerStartedAt()
  await a.stopServiceWorker()
  const midway = await a.call<{ bytes: number, finishedAt?: number }>('transfer', { id: started.id }) // wakes a new worker
  expect(midway.bytes).toBeLessThan(CONTENT_BYTES) // the worker stopped mid-transfer
  expect(await a.workerStartedAt()).not.toBe(workerBefore) // and Chrome started a new one

  const done = await a.waitTransfer(started.id)
  expect(done.bytes).toBe(CONTENT_BYTES)
  expect(done.sha256).toBe(content.sha256)
  const after = await a.status()
  expect(after.startedAt).toBe(before.startedAt) // the same node, never restarted
  expect(after.peerId).toBe(before.peerId)
})

test('5. after a browser restart, A\'s cache and peer id are still there', async ({ devnet, content, launch }) => {
  const a = await launch('a')
  await a.waitReachable()
  expect((await a.fetchAll(content.link)).sha256).toBe(content.sha256)
  const before = await a.status()

  await a.close()
  await a.open() // same profile directory
  const after = await a.status()
  expect(after.peerId).toBe(before.peerId)
  expect(after.address).toBe(before.address)
  expect(after.cache.blocks).toBe(before.cache.blocks)
  expect(after.cache.usedBytes).toBe(before.cache.usedBytes)
  expect(before.received.fromOrigin).toBeGreaterThanOrEqual(CONTENT_BYTES)
  expect(after.received).toEqual(before.received) // RECEIVED survives the restart

  await devnet.origin.stop() // nothing but the cache can deliver it now
  const again = await a.fetchAll(content.link)
  expect(again.sha256).toBe(content.sha256)
  expect(again.stats?.fromCache).toBeGreaterThanOrEqual(CONTENT_BYTES)
  expect(again.stats?.fromOrigin).toBe(0)
  expect(again.stats?.fromPeers).toBe(0)
})

test('6. with a small cache cap, usage stays under the cap and the content still plays back', async ({ content, launch }) => {
  const cap = 16 * 1024 * 1024
  const a = await launch('a', { cacheCapBytes: cap })
  await a.waitReachable()
  let peak = 0
  const transfer = await a.fetchAll(content.link, 120_000, async () => {
    const { cache } = await a.status()
    peak = Math.max(peak, cache.usedBytes)
    expect(cache.capBytes).toBe(cap)
  })
  expect(transfer.error).toBeUndefined()
  expect(transfer.sha256).toBe(content.sha256)
  const { cache } = await a.status()
  expect(cache.usedBytes).toBeLessThanOrEqual(cap)
  expect(peak).toBeLessThanOrEqual(cap)
  expect(cache.usedBytes).toBeGreaterThan(cap / 2) // it did cache, up to the cap

  // and playing it again still works: evicted chunks come back from the origin
  const again = await a.fetchAll(content.link)
  expect(again.sha256).toBe(content.sha256)
  expect(again.stats?.fromCache).toBeGreaterThan(0)
  expect(again.stats?.fromOrigin).toBeGreaterThan(0)
  expect((await a.status()).cache.usedBytes).toBeLessThanOrEqual(cap)
})

test('7. the relay A uses is killed; A stays reachable through the second relay and reconnects when it returns', async ({ devnet, launch }) => {
  const a = await launch('a')
  const relayId = devnet.relay.peerId
  const originId = devnet.origin.peerId
  await a.waitFor(async () => (await a.status()).relays.every(r => r.reserved), 60_000, 'reservations on both relays')
  // attempts counted before the kill: a retry already under way when the relay returns may be the one that reconnects
  const attempts = (await a.status()).relays.find(r => r.peerId === relayId)?.attempts ?? 0

  await devnet.relay.kill()
  await a.waitFor(async () => {
    const { relays, multiaddrs } = await a.status()
    const killed = relays.find(r => r.peerId === relayId)
    const other = relays.find(r => r.peerId === originId)
    return killed?.connected === false && killed.reserved === false && other?.reserved === true &&
      multiaddrs.some(ma => ma.includes(`/p2p/${originId}/p2p-circuit/webrtc`)) && !multiaddrs.some(ma => ma.includes(`/p2p/${relayId}/`))
  }, 60_000, 'the killed relay to be noticed while the other still holds a reservation')

  const port = Number(/\/tcp\/(\d+)\//.exec(devnet.relay.addr)?.[1])
  const { startRelay } = await import('../src/devnet.ts')
  const revived = await startRelay({ dataDir: devnet.relay.dataDir, port })
  try {
    expect(revived.peerId).toBe(relayId)
    await a.waitFor(async () => {
      const relay = (await a.status()).relays.find(r => r.peerId === relayId)
      return relay?.connected === true && relay.reserved
    }, 90_000, 'A to reconnect to the revived relay and reserve again')
    const relay = (await a.status()).relays.find(r => r.peerId === relayId)
    expect(relay?.attempts).toBeGreaterThan(attempts) // reconnected by retrying, with backoff
  } finally {
    await revived.stop()
  }
})

test('8. a manifest whose fields do not match its signature is refused before any content is opened', async ({ devnet, content, launch }) => {
  // the origin holds a copy of the published manifest with another name, under its own CID
  const link = parseLink(content.link)
  const response = await fetch(`${devnet.origin.http}/ipfs/${link.manifest.toString()}?format=raw`)
  const manifest = dagJson.decode<Record<string, unknown>>(new Uint8Array(await response.arrayBuffer()))
  const forged = dagJson.encode({ ...manifest, name: 'renamed.bin' })
  const forgedCid = await manifestCid(forged)
  const origin = new FsBlockstore(join(devnet.origin.dataDir, 'blocks'))
  await origin.open()
  await origin.put(forgedCid as never, forged)
  await origin.close()

  const a = await launch('a')
  await a.waitReachable()
  const refused = await a.fetchAll(formatLink({ manifest: forgedCid, ...(link.key === undefined ? {} : { key: link.key }) }))
  expect(refused.error?.code).toBe(ErrorCode.BAD_SIGNATURE)
  expect(refused.bytes).toBe(0)
  expect(refused.error?.message).toMatch(/not by its publisher/)
})
