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
