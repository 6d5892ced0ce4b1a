import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createCipheriv, randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { CLEAR_BYTES, FRAME_TRAILER_BYTES, FrameSealer, frameKeyId, importMediaKey, openFrame } from '../src/calls/frame.ts'
import type { FrameKind } from '../src/calls/frame.ts'
import { IntegrityError, InvalidParamsError } from '../src/errors.ts'

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
const unhex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'))

const RAW_KEY = unhex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f')
const SALT = unhex('a1b2c3d4')
// a VP8-looking key frame: a 3-byte tag and 7 more header bytes, then "peerloom frame"
const FRAME = unhex('9d012af0f0f0f0f0f0f0706565726c6f6f6d206672616d65')

/** The format written out with node:crypto, independently of frame.ts. */
function referenceSeal (frame: Uint8Array, clear: number, counter: bigint, keyId: number, key = RAW_KEY, salt = SALT): string {
  const iv = Buffer.alloc(12)
  Buffer.from(salt).copy(iv)
  iv.writeBigUInt64BE(counter, 4)
  const head = frame.subarray(0, clear)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(head)
  const sealed = Buffer.concat([cipher.update(frame.subarray(clear)), cipher.final(), cipher.getAuthTag()])
  return Buffer.concat([head, sealed, iv, Buffer.from([keyId >> 8, keyId & 0xff, 0x01])]).toString('hex')
}

test('fixed vectors: key, delta and audio frames, counters and keyIds', async () => {
  const key = await importMediaKey(RAW_KEY)
  const sealer = new FrameSealer(0x0102, key, { salt: SALT })
  assert.equal(hex(await sealer.seal(FRAME, 'key')),
    '9d012af0f0f0f0f0f0f0f266509af0f1ac692beda1cfb07e69f6c7761090a927c3a5fc546c60ded3a1b2c3d40000000000000000010201')
  const later = new FrameSealer(0x0102, key, { salt: SALT, counter: 5n })
  assert.equal(hex(await later.seal(FRAME, 'delta')),
    '9d012a4989b112b6205d0685a556be0712ad3e5b93b44f9f5fbe94e27383ad209d41811b8d7c9552a1b2c3d40000000000000005010201')
  const audio = new FrameSealer(7, key, { salt: SALT, counter: 0x0102030405060708n })
  assert.equal(hex(await audio.seal(unhex('aa'), 'audio')), 'aab492623c366c285139e29d2d3f6e3450a1b2c3d40102030405060708000701')
})

test('sealing matches an independent AES-GCM implementation; the counter advances per frame; open restores', async () => {
  const raw = new Uint8Array(randomBytes(32))
  const salt = new Uint8Array(randomBytes(4))
  const key = await importMediaKey(raw)
  const sealer = new FrameSealer(513, key, { salt })
  let counter = 0n
  await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), fc.constantFrom<FrameKind>('key', 'delta', 'audio'), async (frame, kind) => {
    const sealed = await sealer.seal(frame, kind)
    assert.equal(hex(sealed), referenceSeal(frame, Math.min(CLEAR_BYTES[kind], frame.length), counter++, 513, raw, salt))
    assert.equal(sealed.length, frame.length + 16 + FRAME_TRAILER_BYTES)
    assert.deepEqual(hex(sealed.subarray(0, Math.min(CLEAR_BYTES[kind], frame.length))), hex(frame.subarray(0, CLEAR_BYTES[kind])))
    assert.equal(frameKeyId(sealed), 513)
    assert.deepEqual(await openFrame(key, sealed, kind), frame)
  }), { numRuns: 300 })
  assert.equal(sealer.frames, counter)
})

test('a flipped bit anywhere, in the clear part too, fails to open', async () => {
  const key = await importMediaKey(RAW_KEY)
  const sealer = new FrameSealer(9, key)
  await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 1200 }), fc.nat(), fc.integer({ min: 0, max: 7 }), async (frame, at, bit) => {
    const sealed = await sealer.seal(frame, 'delta')
    // the format byte and keyId are checked before the tag; any other bit breaks the tag
    const index = at % (sealed.length - 3)
    sealed[index]! ^= 1 << bit
    await assert.rejects(openFrame(key, sealed, 'delta'), IntegrityError)
  }), { numRuns: 300 })
})

test('a wrong key, a wrong kind, a truncated or foreign frame fails to open', async () => {
  const key = await importMediaKey(RAW_KEY)
  const other = await importMediaKey(new Uint8Array(randomBytes(32)))
  const sealed = await new FrameSealer(1, key).seal(FRAME, 'key')
  await assert.rejects(openFrame(other, sealed, 'key'), IntegrityError)
  // the receiver derives the clear length from the frame type: another type moves the aad boundary
  await assert.rejects(openFrame(key, sealed, 'delta'), IntegrityError)
  await assert.rejects(openFrame(key, sealed.subarray(1), 'key'), IntegrityError)
  await assert.rejects(openFrame(key, sealed.subarray(0, 20), 'key'), { name: 'IntegrityError', message: /not a sealed media frame/ })
  const unsealed = Uint8Array.from(FRAME)
  assert.equal(frameKeyId(unsealed), null)
  await assert.rejects(openFrame(key, unsealed, 'key'), IntegrityError)
  const wrongFormat = Uint8Array.from(sealed)
  wrongFormat[wrongFormat.length - 1] = 0x02
  assert.equal(frameKeyId(wrongFormat), null)
  await assert.rejects(openFrame(key, wrongFormat, 'key'), IntegrityError)
})

test('bad keys and keyIds are refused with codes', async () => {
  await assert.rejects(importMediaKey(new Uint8Array(16)), InvalidParamsError)
  const key = await importMediaKey(RAW_KEY)
  assert.throws(() => new FrameSealer(0x10000, key), InvalidParamsError)
  assert.throws(() => new FrameSealer(-1, key), InvalidParamsError)
  assert.throws(() => new FrameSealer(1.5, key), InvalidParamsError)
  assert.throws(() => new FrameSealer(1, key, { salt: new Uint8Array(3) }), InvalidParamsError)
  const last = new FrameSealer(1, key, { counter: 0xffffffffffffffffn })
  await last.seal(FRAME, 'audio')
  await assert.rejects(last.seal(FRAME, 'audio'), IntegrityError)
})
