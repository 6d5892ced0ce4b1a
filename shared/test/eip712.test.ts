import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Wallet, hexlify } from 'ethers'
import { peerloomDomain, signGrant, signReceipt, recoverGrantSigner, recoverReceiptSigner, verifyGrant, verifyReceipt, receiptDigest, RECEIPT_TYPES, GRANT_TYPES } from '../src/eip712.ts'
import type { Grant, Receipt } from '../src/eip712.ts'
import { BadSignatureError } from '../src/errors.ts'

const client = Wallet.createRandom()
const publisher = Wallet.createRandom()
const domain = peerloomDomain(31337, '0x5FbDB2315678afecb367f032d93F642f64180aa3')
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(b => hexlify(b))
const uint64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })
const uint256 = fc.bigInt({ min: 0n, max: 2n ** 256n - 1n })

test('type strings are exactly the ones docs/DESIGN.md specifies', () => {
  const encode = (types: typeof RECEIPT_TYPES): string => Object.entries(types).map(([name, fields]) => `${name}(${fields.map(f => `${f.type} ${f.name}`).join(',')})`).join('')
  assert.equal(encode(RECEIPT_TYPES), 'Receipt(address server,address client,bytes32 contentId,uint64 epoch,uint256 bytes)')
  assert.equal(encode(GRANT_TYPES), 'Grant(address client,bytes32 contentId,uint256 maxBytes,uint64 expiry)')
  assert.deepEqual(domain, { name: 'Peerloom', version: '1', chainId: 31337n, verifyingContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' })
})

test('receipts: the client signature verifies; any changed field does not', async () => {
  await fc.assert(fc.asyncProperty(bytes32, uint64, uint256, fc.integer({ min: 0, max: 4 }), async (contentId, epoch, n, field) => {
    const receipt: Receipt = { server: Wallet.createRandom().address, client: client.address, contentId, epoch, bytes: n }
    const signature = await signReceipt(client, domain, receipt)
    verifyReceipt(domain, receipt, signature)
    const changed = { ...receipt }
    if (field === 0) changed.server = Wallet.createRandom().address
    if (field === 1) changed.client = publisher.address
    if (field === 2) changed.contentId = hexlify(new Uint8Array(32).fill(contentId === hexlify(new Uint8Array(32).fill(1)) ? 2 : 1))
    if (field === 3) changed.epoch = epoch === 0n ? 1n : epoch - 1n
    if (field === 4) changed.bytes = n === 0n ? 1n : n - 1n
    assert.notEqual(recoverReceiptSigner(domain, changed, signature), client.address)
    assert.throws(() => { verifyReceipt(domain, changed, signature) }, BadSignatureError)
    assert.notEqual(receiptDigest(domain, changed), receiptDigest(domain, receipt))
  }), { numRuns: 40 })
})

test('grants: the publisher signature verifies; other signers and other domains do not', async () => {
  await fc.assert(fc.asyncProperty(bytes32, uint256, uint64, async (contentId, maxBytes, expiry) => {
    const grant: Grant = { client: client.address, contentId, maxBytes, expiry }
    const signature = await signGrant(publisher, domain, grant)
    verifyGrant(domain, grant, signature, publisher.address)
    assert.equal(recoverGrantSigner(domain, grant, signature), publisher.address)
    assert.throws(() => { verifyGrant(domain, grant, signature, client.address) }, BadSignatureError)
    assert.throws(() => { verifyGrant(peerloomDomain(1, domain.verifyingContract!), grant, signature, publisher.address) }, BadSignatureError)
  }), { numRuns: 30 })
})

test('malformed signatures are BadSignatureError, not crashes', () => {
  const receipt: Receipt = { server: client.address, client: client.address, contentId: hexlify(new Uint8Array(32)), epoch: 1n, bytes: 1n }
  for (const bad of ['0x', '0x1234', 'nope', '0x' + 'ff'.repeat(65)]) {
    assert.throws(() => recoverReceiptSigner(domain, receipt, bad), BadSignatureError)
  }
})
