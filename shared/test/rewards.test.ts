import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Wallet, hexlify } from 'ethers'
import { decodeReceiptAnswer, decodeReceiptMessage, encodeReceiptAnswer, encodeReceiptMessage, epochAt } from '../src/rewards.ts'
import type { SignedReceipt } from '../src/rewards.ts'
import { peerloomDomain, signGrant, signReceipt, verifyReceipt, verifyGrant } from '../src/eip712.ts'
import { InvalidParamsError } from '../src/errors.ts'

const client = Wallet.createRandom()
const publisher = Wallet.createRandom()
const domain = peerloomDomain(31337, '0x5FbDB2315678afecb367f032d93F642f64180aa3')

test('epochs are whole periods of unix time', () => {
  assert.equal(epochAt(0), 0n)
  assert.equal(epochAt(3_599_999), 0n)
  assert.equal(epochAt(3_600_000), 1n)
  assert.equal(epochAt(10_000, 5), 2n)
})

test('signed receipts survive the wire and still verify', async () => {
  await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }), async (id, epoch, bytes) => {
    const contentId = hexlify(id)
    const receipt = { server: Wallet.createRandom().address, client: client.address, contentId, epoch, bytes }
    const grant = { client: client.address, contentId, maxBytes: bytes, expiry: epoch }
    const message: SignedReceipt = { receipt, signature: await signReceipt(client, domain, receipt), grant, grantSignature: await signGrant(publisher, domain, grant) }
    const back = decodeReceiptMessage(encodeReceiptMessage(message))
    assert.deepEqual(back, message)
    verifyReceipt(domain, back.receipt, back.signature)
    verifyGrant(domain, back.grant, back.grantSignature, publisher.address)
  }), { numRuns: 25 })
})

test('receipt answers round-trip; malformed ones are refused with a named field', () => {
  for (const answer of [
    { status: 'accepted', epoch: 7n },
    { status: 'epoch-closed', epoch: 2n ** 63n, message: 'claiming' },
    { status: 'rejected', epoch: 1n, message: 'grant expired' }
  ] as const) assert.deepEqual(decodeReceiptAnswer(encodeReceiptAnswer(answer)), answer)
  const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))
  assert.deepEqual(decodeReceiptAnswer(enc({ status: 'rejected', epoch: '3' })), { status: 'rejected', epoch: 3n, message: 'rejected' })
  const cases: Array<[Uint8Array, RegExp]> = [
    [enc({ status: 'maybe', epoch: '1' }), /receipt answer status/],
    [enc({ status: 'accepted', epoch: String(2n ** 64n) }), /receipt answer epoch/],
    [enc({ status: 'accepted', epoch: '1', extra: true }), /receipt answer/],
    [new TextEncoder().encode('{'), /receipt answer is not JSON/],
    [new Uint8Array(4096), /receipt answer is 4096 bytes/]
  ]
  for (const [bytes, message] of cases) assert.throws(() => decodeReceiptAnswer(bytes), (err: unknown) => err instanceof InvalidParamsError && message.test(err.message), message.source)
})

test('malformed receipt messages are refused with a named field', () => {
  const good = { receipt: { server: client.address, client: client.address, contentId: '0x' + '00'.repeat(32), epoch: '1', bytes: '2' }, signature: '0x' + '11'.repeat(65), grant: { client: client.address, contentId: '0x' + '00'.repeat(32), maxBytes: '5', expiry: '9' }, grantSignature: '0x' + '22'.repeat(65) }
  const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))
  assert.doesNotThrow(() => decodeReceiptMessage(enc(good)))
  const cases: Array<[unknown, RegExp]> = [
    [{ ...good, receipt: { ...good.receipt, epoch: String(2n ** 64n) } }, /receipt\.epoch/],
    [{ ...good, receipt: { ...good.receipt, bytes: '-1' } }, /receipt\.bytes/],
    [{ ...good, receipt: { ...good.receipt, server: 'x' } }, /receipt\.server/],
    [{ ...good, signature: '0x12' }, /signature/],
    [{ ...good, extra: 1 }, /receipt message/],
    [{ ...good, grant: { ...good.grant, contentId: '0x12' } }, /grant\.contentId/]
  ]
  for (const [value, message] of cases) assert.throws(() => decodeReceiptMessage(enc(value)), (err: unknown) => err instanceof InvalidParamsError && message.test(err.message), message.source)
  assert.throws(() => decodeReceiptMessage(new TextEncoder().encode('{')), InvalidParamsError)
  assert.throws(() => decodeReceiptMessage(new Uint8Array(4096)), InvalidParamsError)
})
