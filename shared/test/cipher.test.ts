import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { ChunkCipher, TAG_BYTES, chunkCount, chunksForRange, plainChunkLength, sealedSize, assertChunkSize, MIN_CHUNK_SIZE, MAX_CHUNK_SIZE } from '../src/cipher.ts'
import { IntegrityError, InvalidParamsError } from '../src/errors.ts'
import { randomBytes } from '../src/bytes.ts'

const key = randomBytes(32)
const id = randomBytes(32)

test('seal adds exactly the tag and open restores the plaintext', async () => {
  const cipher = await ChunkCipher.create(key, id)
  await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), fc.nat({ max: 2 ** 40 }), async (plain, index) => {
    const sealed = await cipher.seal(index, plain)
    assert.equal(sealed.length, plain.length + TAG_BYTES)
    assert.deepEqual(await cipher.open(index, sealed), plain)
  }), { numRuns: 200 })
})

test('a flipped bit anywhere in a sealed chunk fails to open', async () => {
  const cipher = await ChunkCipher.create(key, id)
  await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 2048 }), fc.nat(), fc.integer({ min: 0, max: 7 }), async (plain, at, bit) => {
    const sealed = await cipher.seal(3, plain)
    sealed[at % sealed.length]! ^= 1 << bit
    await assert.rejects(cipher.open(3, sealed), IntegrityError)
  }), { numRuns: 200 })
})

test('a wrong key, index, content id or a truncated chunk fails to open', async () => {
  const cipher = await ChunkCipher.create(key, id)
  const plain = randomBytes(1000)
  const sealed = await cipher.seal(7, plain)
  await assert.rejects((await ChunkCipher.create(randomBytes(32), id)).open(7, sealed), IntegrityError)
  await assert.rejects((await ChunkCipher.create(key, randomBytes(32))).open(7, sealed), IntegrityError)
  await assert.rejects(cipher.open(8, sealed), IntegrityError)
  await assert.rejects(cipher.open(6, sealed), IntegrityError)
  await assert.rejects(cipher.open(7, sealed.subarray(0, sealed.length - 1)), IntegrityError)
  await assert.rejects(cipher.open(7, sealed.subarray(0, 10)), { name: 'IntegrityError', message: /truncated/ })
  await assert.rejects(cipher.open(7, sealed.subarray(1)), IntegrityError)
})

test('keys and content ids of the wrong length and bad indices are rejected', async () => {
  await assert.rejects(ChunkCipher.create(randomBytes(31), id), InvalidParamsError)
  await assert.rejects(ChunkCipher.create(key, randomBytes(33)), InvalidParamsError)
  const cipher = await ChunkCipher.create(key, id)
  await assert.rejects(cipher.seal(-1, new Uint8Array(1)), InvalidParamsError)
  await assert.rejects(cipher.seal(1.5, new Uint8Array(1)), InvalidParamsError)
})

test('chunk size bounds', () => {
  assert.doesNotThrow(() => { assertChunkSize(MIN_CHUNK_SIZE) })
  assert.doesNotThrow(() => { assertChunkSize(MAX_CHUNK_SIZE) })
  for (const bad of [MIN_CHUNK_SIZE - 1, MAX_CHUNK_SIZE + 1, 1.5, Number.NaN, 0]) {
    assert.throws(() => { assertChunkSize(bad) }, InvalidParamsError)
  }
})

test('range → chunks agrees with a byte-by-byte model', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 4096 }), fc.nat({ max: 100_000 }), fc.nat({ max: 100_000 }), (chunkSize, a, b) => {
    const [start, end] = a <= b ? [a, b] : [b, a]
    const span = chunksForRange(start, end, chunkSize)
    const touched = new Set<number>()
    // naive model: every byte in the range belongs to chunk floor(byte / chunkSize)
    for (let byte = start; byte < end; byte += 1) touched.add(Math.floor(byte / chunkSize))
    if (touched.size === 0) {
      assert.equal(span, null)
      return
    }
    const sorted = [...touched].sort((x, y) => x - y)
    assert.deepEqual(span, { first: sorted[0], last: sorted.at(-1) })
    assert.equal(sorted.length, span!.last - span!.first + 1)
  }), { numRuns: 300 })
})

test('chunk count, chunk lengths and sealed size are consistent', () => {
  fc.assert(fc.property(fc.nat({ max: 10_000_000 }), fc.integer({ min: 1, max: 1 << 20 }), (size, chunkSize) => {
    const count = chunkCount(size, chunkSize)
    let total = 0
    for (let i = 0; i < Math.min(count, 3); i++) total += plainChunkLength(i, size, chunkSize)
    if (count <= 3) assert.equal(total, size)
    assert.equal(plainChunkLength(count - 1, size, chunkSize) > 0 || size === 0, true)
    assert.equal(plainChunkLength(count, size, chunkSize), 0)
    assert.equal(sealedSize(size, chunkSize), size + count * TAG_BYTES)
  }), { numRuns: 300 })
})
