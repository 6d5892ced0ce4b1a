/**
 * buildClaim: how signed receipts become RewardPool.claim arguments (grouping, strict order,
 * one receipt per client and content). The on-chain effect of these rules is in pool.test.ts.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Signature, Wallet, getAddress, hexlify, randomBytes } from 'ethers'
import { peerloomDomain, signGrant, signReceipt } from '@peerloom/shared/eip712'
import { buildClaim, compareHex } from '../src/claim.ts'
import type { SignedReceiptWithGrant } from '../src/claim.ts'

const domain = peerloomDomain(31337, '0x5FC8d32690cc91D4c39d9d3abcBD16989F875707')
const publisher = new Wallet(hexlify(randomBytes(32)))
const server = new Wallet(hexlify(randomBytes(32))).address

async function item (client: Wallet, contentId: string, bytes: bigint, epoch = 7n): Promise<SignedReceiptWithGrant> {
  const receipt = { server, client: client.address, contentId, epoch, bytes }
  const grant = { client: client.address, contentId, maxBytes: 1n << 30n, expiry: 2_000_000_000n }
  return { receipt, signature: await signReceipt(client, domain, receipt), grant, grantSignature: await signGrant(publisher, domain, grant) }
}

describe('buildClaim', () => {
  it('groups by content and orders contents and clients ascending, with compact signatures', async () => {
    const clients = Array.from({ length: 4 }, () => new Wallet(hexlify(randomBytes(32))))
    const contents = [hexlify(randomBytes(32)), hexlify(randomBytes(32))]
    const items = []
    for (const contentId of contents) for (const client of clients) items.push(await item(client, contentId, 100n))
    const claim = buildClaim(items.reverse())

    assert.equal(claim.server, getAddress(server))
    assert.equal(claim.epoch, 7n)
    assert.deepEqual(claim.claims.map(c => c.contentId), [...contents].sort(compareHex))
    for (const group of claim.claims) {
      assert.deepEqual(group.receipts.map(r => r.client), clients.map(c => c.address).sort(compareHex))
      for (const entry of group.receipts) {
        const source = items.find(i => i.receipt.client === entry.client && i.receipt.contentId === group.contentId)!
        const sig = Signature.from(source.signature)
        assert.equal(entry.receiptR, sig.r)
        assert.equal(entry.receiptVS, sig.yParityAndS)
        assert.equal(entry.byteCount, 100n)
        assert.equal(entry.grantMaxBytes, 1n << 30n)
        assert.equal(entry.grantExpiry, 2_000_000_000n)
      }
    }
  })

  it('keeps only the highest cumulative receipt of a client for a content', async () => {
    const client = new Wallet(hexlify(randomBytes(32)))
    const contentId = hexlify(randomBytes(32))
    const claim = buildClaim([await item(client, contentId, 10n), await item(client, contentId, 30n), await item(client, contentId, 20n)])
    assert.equal(claim.claims.length, 1)
    assert.deepEqual(claim.claims[0]!.receipts.map(r => r.byteCount), [30n])
  })

  it('refuses mixed servers or epochs, grants for another receipt, and an empty list', async () => {
    const [a, b] = [new Wallet(hexlify(randomBytes(32))), new Wallet(hexlify(randomBytes(32)))]
    const contentId = hexlify(randomBytes(32))
    assert.throws(() => buildClaim([]), RangeError)
    const x = await item(a, contentId, 1n)
    const laterEpoch = await item(b, contentId, 1n, 8n)
    assert.throws(() => buildClaim([x, laterEpoch]), /one server and epoch/)
    const otherServer = { ...x, receipt: { ...x.receipt, server: b.address } }
    assert.throws(() => buildClaim([x, otherServer]), /one server and epoch/)
    const y = await item(b, contentId, 1n)
    assert.throws(() => buildClaim([{ ...x, grant: y.grant, grantSignature: y.grantSignature }]), /does not cover/)
  })
})
