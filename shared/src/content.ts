/**
 * Whole-file sealing and random-access opening (DESIGN.md, Content format).
 *
 * Sealing streams: memory stays at about one chunk however large the file. The sealed
 * chunks are imported as a UnixFS file (profile unixfs-v1-2025: CIDv1, raw leaves, balanced
 * layout, 1,024 links per node) with a fixed-size chunker of `chunkSize + 16`, so leaf *i* is
 * exactly sealed chunk *i* and any IPFS tool can move and verify the ciphertext by CID.
 *
 * Opening a byte range fetches only the chunks the range touches.
 *
 * @example
 * ```ts
 * const cipher = await ChunkCipher.create(contentKey, contentId)
 * const { root, size } = await importSealedFile(fileStream, blockstore, { cipher, chunkSize })
 * const read = unixfsChunkReader(blockstore, root, size, chunkSize)
 * for await (const bytes of openRange({ cipher, size, chunkSize, start: 0, end: size, readChunk: read })) { ... }
 * ```
 */
import { importByteStream } from 'ipfs-unixfs-importer'
import type { WritableStorage } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { exporter } from 'ipfs-unixfs-exporter'
import type { ReadableStorage } from 'ipfs-unixfs-exporter'
import type { CID } from 'multiformats/cid'
import { ChunkCipher, TAG_BYTES, assertChunkSize, chunkCount, chunksForRange, sealedChunkLength } from './cipher.ts'
import { IntegrityError } from './errors.ts'
import { collectBytes } from './bytes.ts'
import { assertRange } from './range.ts'

/** How many chunks `openRange` fetches ahead of the one it is decrypting. */
export const DEFAULT_READ_AHEAD = 4

/** Plaintext as Node streams, web streams and arrays all present it. */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array> | ReadableStream<Uint8Array>

export interface SealProgress {
  /** Plaintext bytes sealed so far. */
  bytes: number
  /** Chunks sealed so far. */
  chunks: number
}

export interface SealOptions {
  cipher: ChunkCipher
  chunkSize: number
  signal?: AbortSignal
  onProgress?: (progress: SealProgress) => void
}

async function * iterate (source: ByteSource): AsyncGenerator<Uint8Array> {
  if (typeof (source as ReadableStream<Uint8Array>).getReader === 'function' && !(Symbol.asyncIterator in source)) {
    const reader = (source as ReadableStream<Uint8Array>).getReader()
    try {
      while (true) {
        const { done, value } = await reader.read()
        if (done) return
        yield value
      }
    } finally {
      reader.releaseLock()
    }
  }
  yield * source as AsyncIterable<Uint8Array>
}

/**
 * Re-cuts `source` into `chunkSize` plaintext chunks and seals each in order. An empty
 * source yields one sealed empty chunk (the tag alone), as the format requires.
 */
export async function * sealChunks (source: ByteSource, { cipher, chunkSize, signal, onProgress }: SealOptions): AsyncGenerator<Uint8Array> {
  assertChunkSize(chunkSize)
  // One staging buffer for chunks that straddle input pieces; reusable because WebCrypto
  // copies its input when encrypt() is called. Whole chunks inside a piece are sealed in place.
  const buffer = new Uint8Array(chunkSize)
  let filled = 0
  let index = 0
  let bytes = 0
  const emit = async (plain: Uint8Array): Promise<Uint8Array> => {
    signal?.throwIfAborted()
    const sealed = await cipher.seal(index, plain)
    index++
    bytes += plain.length
    onProgress?.({ bytes, chunks: index })
    return sealed
  }
  for await (const piece of iterate(source)) {
    let offset = 0
    while (offset < piece.length) {
      if (filled === 0 && piece.length - offset >= chunkSize) {
        yield await emit(piece.subarray(offset, offset + chunkSize))
        offset += chunkSize
        continue
      }
      const take = Math.min(chunkSize - filled, piece.length - offset)
      buffer.set(piece.subarray(offset, offset + take), filled)
      filled += take
      offset += take
      if (filled === chunkSize) {
        yield await emit(buffer)
        filled = 0
      }
    }
  }
  if (filled > 0 || index === 0) yield await emit(buffer.subarray(0, filled))
}

export interface SealedFile {
  /** Root CID of the UnixFS ciphertext file. */
  root: CID
  /** Plaintext bytes. */
  size: number
  chunkSize: number
  chunks: number
}

/** UnixFS import options that make leaf i exactly sealed chunk i. */
export function ciphertextImportOptions (chunkSize: number): { profile: 'unixfs-v1-2025', cidVersion: 1, rawLeaves: true, chunker: ReturnType<typeof fixedSize> } {
  return { profile: 'unixfs-v1-2025', cidVersion: 1, rawLeaves: true, chunker: fixedSize({ chunkSize: chunkSize + TAG_BYTES }) }
}

/** Seals `source` and writes it to `blockstore` as a UnixFS ciphertext file. */
export async function importSealedFile (source: ByteSource, blockstore: WritableStorage, options: SealOptions): Promise<SealedFile> {
  let size = 0
  let chunks = 0
  const sealed = sealChunks(source, {
    ...options,
    onProgress: progress => {
      size = progress.bytes
      chunks = progress.chunks
      options.onProgress?.(progress)
    }
  })
  const result = await importByteStream(sealed, blockstore, { ...ciphertextImportOptions(options.chunkSize), ...(options.signal === undefined ? {} : { signal: options.signal }) })
  return { root: result.cid, size, chunkSize: options.chunkSize, chunks }
}

/** Returns sealed chunk `index`, already verified against its CID by whoever fetched it. */
export type ChunkReader = (index: number, options?: { signal?: AbortSignal }) => Promise<Uint8Array>

/**
 * Reads sealed chunks of the ciphertext file `root` from a blockstore (a Helia blockstore
 * fetches missing blocks from the network and verifies each against its CID).
 */
export function unixfsChunkReader (blockstore: ReadableStorage, root: CID, size: number, chunkSize: number): ChunkReader {
  const stride = chunkSize + TAG_BYTES
  let entry: ReturnType<typeof exporter> | undefined
  return async (index, options) => {
    entry ??= exporter(root, blockstore, options)
    let file
    try {
      file = await entry
    } catch (err) {
      entry = undefined
      throw err
    }
    if (file.type !== 'file' && file.type !== 'raw') throw new IntegrityError(`ciphertext root ${root.toString()} is a ${file.type}, not a file`)
    const length = sealedChunkLength(index, size, chunkSize)
    return await collectBytes(file.content({ offset: index * stride, length, ...options }))
  }
}

export interface OpenRangeOptions {
  cipher: ChunkCipher
  /** Plaintext size from the manifest. */
  size: number
  chunkSize: number
  /** First byte (inclusive). */
  start: number
  /** Last byte (exclusive). */
  end: number
  readChunk: ChunkReader
  /** Chunks fetched ahead of the one being decrypted. */
  readAhead?: number
  /**
   * Chunks fetched at first; the window doubles with every chunk opened until it reaches
   * `readAhead`. A small start keeps the first chunk from sharing the link with a whole window
   * of read-ahead, so the first byte comes sooner. @default readAhead
   */
  initialReadAhead?: number
  signal?: AbortSignal
  /** Called with each chunk index once it is verified and opened. */
  onChunk?: (index: number, sealedBytes: number) => void
}

/**
 * Yields the plaintext of [start, end), fetching and opening only the chunks it touches,
 * in order, up to `readAhead` at a time (starting from `initialReadAhead`).
 */
export async function * openRange (options: OpenRangeOptions): AsyncGenerator<Uint8Array> {
  const { cipher, size, chunkSize, start, end, readChunk, signal } = options
  assertChunkSize(chunkSize)
  assertRange({ start, end }, size)
  const span = chunksForRange(start, end, chunkSize)
  if (span === null) return
  const readAhead = Math.max(1, options.readAhead ?? DEFAULT_READ_AHEAD)
  let window = Math.max(1, Math.min(readAhead, options.initialReadAhead ?? readAhead))
  const last = Math.min(span.last, chunkCount(size, chunkSize) - 1)
  const inflight = new Map<number, Promise<Uint8Array>>()
  const controller = new AbortController()
  const abort = (): void => { controller.abort(signal?.reason) }
  signal?.addEventListener('abort', abort, { once: true })
  let next = span.first
  const fill = (): void => {
    while (next <= last && inflight.size < window) {
      const index = next++
      const pending = readChunk(index, { signal: controller.signal })
      pending.catch(() => {}) // observed when awaited below; avoid an unhandled rejection meanwhile
      inflight.set(index, pending)
    }
  }
  try {
    for (let index = span.first; index <= last; index++) {
      fill()
      const sealed = await (inflight.get(index) as Promise<Uint8Array>)
      inflight.delete(index)
      const expected = sealedChunkLength(index, size, chunkSize)
      if (sealed.length !== expected) throw new IntegrityError(`chunk ${index} is ${sealed.length} bytes; the manifest implies ${expected}`)
      const plain = await cipher.open(index, sealed)
      options.onChunk?.(index, sealed.length)
      window = Math.min(readAhead, window * 2)
      const chunkStart = index * chunkSize
      const from = Math.max(start, chunkStart) - chunkStart
      const to = Math.min(end, chunkStart + plain.length) - chunkStart
      yield from === 0 && to === plain.length ? plain : plain.subarray(from, to)
    }
  } finally {
    signal?.removeEventListener('abort', abort)
    if (inflight.size > 0) controller.abort(new Error('range read ended early'))
  }
}
