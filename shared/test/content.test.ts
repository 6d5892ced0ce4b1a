import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { MemoryBlockstore } from 'blockstore-core'
import type { CID } from 'multiformats/cid'
import { ChunkCipher, TAG_BYTES, MIN_CHUNK_SIZE } from '../src/cipher.ts'
import { importSealedFile, openRange, sealChunks, unixfsChunkReader } from '../src/content.ts'
import type { ChunkReader } from '../src/content.ts'
import { IntegrityError, RangeNotSatisfiableError } from '../src/errors.ts'
import { collectBytes, concatBytes, randomBytes } from '../src/bytes.ts'

async function collect (source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const part of source) parts.push(part)
  return new Uint8Array(Buffer.concat(parts))
}

/** Splits `data` into pieces of random sizes, as a file stream would arrive. */
function pieces (data: Uint8Array, cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = []
  let offset = 0
  for (const cut of cuts) {
    if (offset >= data.length) break
    out.push(data.subarray(offset, offset + cut))
    offset += cut
  }
  if (offset < data.length) out.push(data.subarray(offset))
  return out
}

async function publish (data: Uint8Array, chunkSize: number, cuts: number[] = []): Promise<{ cipher: ChunkCipher, blockstore: MemoryBlockstore, root: CID, read: ChunkReader }> {
  const cipher = await ChunkCipher.create(randomBytes(32), randomBytes(32))
  const blockstore = new MemoryBlockstore()
  const { root, size } = await importSealedFile(pieces(data, cuts), blockstore, { cipher, chunkSize })
  assert.equal(size, data.length)
  return { cipher, blockstore, root, read: unixfsChunkReader(blockstore, root, data.length, chunkSize) }
}

test('seal → import → open round-trips for random sizes, chunk sizes and stream cuts', async () => {
  await fc.assert(fc.asyncProperty(
    fc.integer({ min: 0, max: 40_000 }), fc.integer({ min: MIN_CHUNK_SIZE, max: 6000 }), fc.array(fc.integer({ min: 1, max: 9000 }), { maxLength: 20 }),
    async (size, chunkSize, cuts) => {
      const data = randomBytes(size)
      const { cipher, read } = await publish(data, chunkSize, cuts)
      const out = await collect(openRange({ cipher, size, chunkSize, start: 0, end: size, readChunk: read }))
      assert.deepEqual(out, data)
    }), { numRuns: 60 })
})

test('any range opens to exactly the same bytes and fetches only the chunks it touches', async () => {
  const size = 50_000
  const chunkSize = 1024
  const data = randomBytes(size)
  const { cipher, read } = await publish(data, chunkSize)
  await fc.assert(fc.asyncProperty(fc.nat({ max: size }), fc.nat({ max: size }), fc.integer({ min: 1, max: 8 }), async (a, b, readAhead) => {
    const [start, end] = a <= b ? [a, b] : [b, a]
    const fetched: number[] = []
    const counting: ChunkReader = async (index, options) => { fetched.push(index); return await read(index, options) }
    const out = await collect(openRange({ cipher, size, chunkSize, start, end, readChunk: counting, readAhead }))
    assert.deepEqual(out, data.subarray(start, end))
    const expected = end > start ? Array.from({ length: Math.floor((end - 1) / chunkSize) - Math.floor(start / chunkSize) + 1 }, (_, i) => Math.floor(start / chunkSize) + i) : []
    assert.deepEqual(fetched.sort((x, y) => x - y), expected)
  }), { numRuns: 150 })
})

test('read-ahead asks for initialReadAhead chunks until the first is opened, then for readAhead', async () => {
  const chunkSize = 1024
  const data = randomBytes(chunkSize * 40)
  const { cipher, read } = await publish(data, chunkSize)
  let requested = 0
  const counting: ChunkReader = async (index, options) => { requested = Math.max(requested, index + 1); return await read(index, options) }
  const opened = openRange({ cipher, size: data.length, chunkSize, start: 0, end: data.length, readChunk: counting, readAhead: 12, initialReadAhead: 2 })
  const seen: number[] = []
  const out: Uint8Array[] = []
  for await (const plain of opened) {
    seen.push(requested) // chunks asked for by the time chunk `out.length` was opened
    out.push(plain)
  }
  assert.deepEqual(seen.slice(0, 6), [2, 1 + 12, 2 + 12, 3 + 12, 4 + 12, 5 + 12])
  assert.deepEqual(concatBytes(out), data)
})

test('leaf i of the UnixFS ciphertext file is exactly sealed chunk i', async () => {
  const chunkSize = 2048
  const data = randomBytes(chunkSize * 3 + 100)
  const { cipher, read } = await publish(data, chunkSize)
  for (let i = 0; i < 4; i++) {
    const sealed = await read(i)
    assert.equal(sealed.length, Math.min(chunkSize, data.length - i * chunkSize) + TAG_BYTES)
    assert.deepEqual(await cipher.open(i, sealed), data.subarray(i * chunkSize, (i + 1) * chunkSize))
  }
})

test('a chunk read fetches its leaf and nothing else, through a two-level DAG too; inner nodes once', async () => {
  const chunkSize = MIN_CHUNK_SIZE
  const data = randomBytes(chunkSize * 1030 + 7) // 1,031 leaves: more than one node's 1,024 links
  const { cipher, blockstore, root } = await publish(data, chunkSize)
  const gets: string[] = []
  const counting = { get: (cid: CID, options?: { signal?: AbortSignal }) => { gets.push(cid.toString()); return blockstore.get(cid, options) } }
  const read = unixfsChunkReader(counting, root, data.length, chunkSize)
  for (const i of [0, 1023, 1024, 1030, 500]) {
    const before = gets.length
    const sealed = await read(i)
    assert.deepEqual(await cipher.open(i, sealed), data.subarray(i * chunkSize, (i + 1) * chunkSize), `chunk ${i}`)
    const leaves = gets.slice(before).filter(key => key.startsWith('bafk')) // raw leaves
    assert.equal(leaves.length, 1, `chunk ${i} read ${leaves.length} leaves`)
  }
  // root + the two second-level nodes, each read once
  assert.equal(gets.filter(key => key.startsWith('bafy')).length, 3)
})

test('a ciphertext DAG that does not match the manifest is refused with IntegrityError', async () => {
  const chunkSize = 1024
  const data = randomBytes(chunkSize * 6)
  const { blockstore, root } = await publish(data, chunkSize)
  // the manifest claims another size, or another chunk size (leaf i is then not chunk i)
  await assert.rejects(unixfsChunkReader(blockstore, root, data.length + 1, chunkSize)(0), IntegrityError)
  await assert.rejects(unixfsChunkReader(blockstore, root, data.length, 2048)(0), IntegrityError)
  // a root that is not a UnixFS file node
  const foreign = await importSealedFile([data], blockstore, { cipher: await ChunkCipher.create(randomBytes(32), randomBytes(32)), chunkSize: 2048 })
  await assert.rejects(unixfsChunkReader(blockstore, foreign.root, data.length, chunkSize)(0), IntegrityError)
  const garbage = (await collectBytes(blockstore.get(root))).subarray(0, 40)
  await blockstore.put(root, garbage) // garbage where the root should be (the store does not re-hash)
  await assert.rejects(unixfsChunkReader(blockstore, root, data.length, chunkSize)(0), IntegrityError)
})

test('an empty file is one sealed empty chunk and opens to nothing', async () => {
  const { cipher, read } = await publish(new Uint8Array(0), 4096)
  assert.equal((await read(0)).length, TAG_BYTES)
  assert.equal((await collect(openRange({ cipher, size: 0, chunkSize: 4096, start: 0, end: 0, readChunk: read }))).length, 0)
})

test('ranges outside the content are refused', async () => {
  const { cipher, read } = await publish(randomBytes(5000), 1024)
  for (const [start, end] of [[-1, 10], [0, 5001], [10, 5], [5001, 5002], [0.5, 2]] as const) {
    await assert.rejects(collect(openRange({ cipher, size: 5000, chunkSize: 1024, start, end, readChunk: read })), RangeNotSatisfiableError)
  }
})

test('a tampered, truncated, swapped or foreign chunk stops the read with IntegrityError', async () => {
  const size = 10_000
  const chunkSize = 1024
  const data = randomBytes(size)
  const { cipher, read } = await publish(data, chunkSize)
  const other = await publish(randomBytes(size), chunkSize)
  const cases: Record<string, ChunkReader> = {
    flipped: async i => { const c = (await read(i)).slice(); if (i === 3) c[5]! ^= 0x80; return c },
    truncated: async i => { const c = await read(i); return i === 3 ? c.subarray(0, c.length - 1) : c },
    swapped: async i => await read(i === 3 ? 4 : i),
    foreign: async i => await (i === 3 ? other.read(i) : read(i))
  }
  for (const [name, readChunk] of Object.entries(cases)) {
    const out: Uint8Array[] = []
    await assert.rejects(async () => {
      for await (const part of openRange({ cipher, size, chunkSize, start: 0, end: size, readChunk })) out.push(part)
    }, IntegrityError, name)
    // nothing from the bad chunk or after it was released
    assert.deepEqual(new Uint8Array(Buffer.concat(out)), data.subarray(0, 3 * chunkSize), name)
  }
})

test('a failing chunk fetch rejects the read and aborts the chunks fetched ahead', async () => {
  const { cipher, read } = await publish(randomBytes(20_000), 1024)
  const aborted: number[] = []
  const readChunk: ChunkReader = async (index, options) => {
    if (index === 2) throw new Error('peer went away')
    if (index > 2) {
      // settles only on abort: a read that waits for the others instead hangs and fails the test
      await new Promise((_resolve, reject) => {
        const signal = options?.signal
        const onAbort = (): void => { aborted.push(index); reject(signal?.reason) }
        if (signal?.aborted === true) onAbort()
        else signal?.addEventListener('abort', onAbort)
      })
    }
    return await read(index, options)
  }
  await assert.rejects(collect(openRange({ cipher, size: 20_000, chunkSize: 1024, start: 0, end: 20_000, readChunk, readAhead: 4 })), /peer went away/)
  assert.ok(aborted.length > 0)
})

test('sealing streams in bounded memory: 512 MiB through sealChunks grows RSS by far less', async () => {
  const cipher = await ChunkCipher.create(randomBytes(32), randomBytes(32))
  const piece = randomBytes(1 << 20)
  async function * source (): AsyncGenerator<Uint8Array> { for (let i = 0; i < 512; i++) yield piece }
  const before = process.memoryUsage().rss
  let peak = before
  let sealedBytes = 0
  for await (const sealed of sealChunks(source(), { cipher, chunkSize: 256 * 1024 })) {
    sealedBytes += sealed.length
    peak = Math.max(peak, process.memoryUsage().rss)
  }
  assert.equal(sealedBytes, 512 * (1 << 20) + 2048 * TAG_BYTES)
  assert.ok(peak - before < 256 * (1 << 20), `RSS grew by ${Math.round((peak - before) / 2 ** 20)} MiB while sealing 512 MiB`)
})
