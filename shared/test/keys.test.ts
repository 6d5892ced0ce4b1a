import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Wallet } from 'ethers'
import { createKeyRequest, formatKeyRequest, parseKeyRequest, signKeyRequest, verifyKeyRequest, wrapContentKey, unwrapContentKey } from '../src/keys.ts'
import { randomBytes, toHex } from '../src/bytes.ts'
import { BadSignatureError, IntegrityError, InvalidParamsError } from '../src/errors.ts'

const viewer = Wallet.createRandom()
const contentId = toHex(randomBytes(32))
const base = { domain: '127.0.0.1:8080', address: viewer.address, uri: 'http://127.0.0.1:8080/keys/v1', chainId: 31337, contentId }

test('a signed request verifies, names its signer and yields a public key that unwraps only for the signer', async () => {
  const signed = await signKeyRequest(viewer, createKeyRequest(base))
  const { request, publicKey } = verifyKeyRequest(signed, { domain: base.domain, chainId: 31337 })
  assert.equal(request.address, viewer.address)
  assert.equal(request.contentId, contentId)
  assert.equal(publicKey, viewer.signingKey.publicKey)
  const key = randomBytes(32)
  const wrapped = wrapContentKey(publicKey, key)
  assert.deepEqual(unwrapContentKey(viewer.privateKey, wrapped), key)
  assert.throws(() => unwrapContentKey(Wallet.createRandom().privateKey, wrapped), IntegrityError)
  const tampered = wrapped.slice(); tampered[tampered.length - 1]! ^= 1
  assert.throws(() => unwrapContentKey(viewer.privateKey, tampered), IntegrityError)
})

test('format and parse are inverse', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 1, max: 2 ** 40 }), fc.date({ min: new Date(2020, 0, 1), max: new Date(2100, 0, 1), noInvalidDate: true }), (id, chainId, date) => {
    const request = createKeyRequest({ ...base, contentId: toHex(id), chainId, now: date.getTime() })
    assert.deepEqual(parseKeyRequest(formatKeyRequest(request)), request)
  }), { numRuns: 100 })
})

test('wrong domain, chain, signer, expired, future or altered requests are refused', async () => {
  const now = Date.now()
  const signed = await signKeyRequest(viewer, createKeyRequest({ ...base, now }))
  assert.throws(() => verifyKeyRequest(signed, { domain: 'evil.example' }), BadSignatureError)
  assert.throws(() => verifyKeyRequest(signed, { domain: base.domain, chainId: 1 }), BadSignatureError)
  assert.throws(() => verifyKeyRequest(signed, { domain: base.domain, now: now + 10 * 60_000 }), /expired/)
  assert.throws(() => verifyKeyRequest(signed, { domain: base.domain, now: now - 10 * 60_000 }), /future/)
  const other = await Wallet.createRandom().signMessage(signed.message)
  assert.throws(() => verifyKeyRequest({ message: signed.message, signature: other }, { domain: base.domain }), /not by/)
  const altered = signed.message.replace(contentId, toHex(randomBytes(32)))
  assert.throws(() => verifyKeyRequest({ message: altered, signature: signed.signature }, { domain: base.domain }), BadSignatureError)
  assert.throws(() => verifyKeyRequest({ message: signed.message, signature: '0x1234' }, { domain: base.domain }), BadSignatureError)
  for (const bad of ['', 'hello', signed.message + '\nextra', signed.message.replace('Version: 1', 'Version: 2'), 'x'.repeat(5000)]) {
    assert.throws(() => parseKeyRequest(bad), InvalidParamsError)
  }
})
