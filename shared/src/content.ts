/**
 * Whole-file sealing and random-access opening (docs/DESIGN.md, Content format).
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
import type { Blockstore } from 'interface-blockstore'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { ChunkCipher, TAG_BYTES, assertChunkSize, chunkCount, chunksForRange, sealedChunkLength, sealedSize } from './cipher.ts'
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

/** A file node of the ciphertext DAG: its children and where each ends, in sealed bytes. */
interface FileNode {
  links: CID[]
  /** Offset just past each child, from the start of this node. */
  ends: number[]
}

/** Deepest ciphertext DAG accepted: 1,024 links per node reach 2⁵⁰ leaves long before this. */
const MAX_FILE_DEPTH = 8

function decodeFileNode (cid: CID, bytes: Uint8Array): FileNode {
  let node: dagPb.PBNode
  let file: UnixFS
  try {
    node = dagPb.decode(bytes)
    if (node.Data === undefined) throw new Error('no UnixFS data')
    file = UnixFS.unmarshal(node.Data)
  } catch (err) {
    throw new IntegrityError(`ciphertext node ${cid.toString()} is not a UnixFS file node: ${(err as Error).message}`)
  }
  if (file.type !== 'file' && file.type !== 'raw') throw new IntegrityError(`ciphertext node ${cid.toString()} is a UnixFS ${file.type}, not a file`)
  if ((file.data?.length ?? 0) > 0) throw new IntegrityError(`ciphertext node ${cid.toString()} carries data of its own; the format has raw leaves only`)
  if (node.Links.length !== file.blockSizes.length) throw new IntegrityError(`ciphertext node ${cid.toString()} has ${node.Links.length} links but ${file.blockSizes.length} block sizes`)
  const ends: number[] = []
  let end = 0
  for (const size of file.blockSizes) {
    end += Number(size)
    ends.push(end)
  }
  return { links: node.Links.map(link => link.Hash), ends }
}

/** Index of the first child whose end lies past `offset` (binary search over `ends`). */
function childAt (ends: number[], offset: number): number {
  let low = 0
  let high = ends.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if ((ends[mid] as number) <= offset) low = mid + 1
    else high = mid
  }
  return low
}

/** What a chunk reader needs of a blockstore. */
export type ReadableStorage = Pick<Blockstore, 'get'>

/**
 * Reads sealed chunks of the ciphertext file `root` from a blockstore (a Helia blockstore
 * fetches missing blocks from the network and verifies each against its CID).
 *
 * Leaf *i* is sealed chunk *i* (docs/DESIGN.md, Formats), so chunk *i* is found by walking the file's inner
 * nodes by their block sizes straight to leaf *i*, and the leaf's bytes are returned as the
 * blockstore gave them: one block read per chunk, no copy. Inner nodes are decoded once per
 * reader. (A UnixFS exporter range read copies each block and also reads the leaf after the
 * range.) A DAG that is not laid out that way is an IntegrityError.
 */
export function unixfsChunkReader (blockstore: ReadableStorage, root: CID, size: number, chunkSize: number): ChunkReader {
  const stride = chunkSize + TAG_BYTES
  const total = sealedSize(size, chunkSize)
  const nodes = new Map<string, Promise<FileNode>>()
  const fileNode = async (cid: CID, options?: { signal?: AbortSignal }): Promise<FileNode> => {
    const key = cid.toString()
    let pending = nodes.get(key)
    if (pending === undefined) {
      pending = collectBytes(blockstore.get(cid, options)).then(bytes => decodeFileNode(cid, bytes))
      // a failed read (an aborted one, say) is not remembered: the next chunk read tries again
      pending.catch(() => { nodes.delete(key) })
      nodes.set(key, pending)
    }
    return await pending
  }
  return async (index, options) => {
    const length = sealedChunkLength(index, size, chunkSize)
    let cid = root
    let offset = index * stride // where the chunk starts inside the node `cid`
    let span = total // the node's size
    for (let depth = 0; depth <= MAX_FILE_DEPTH; depth++) {
      if (cid.code === raw.code) {
        if (offset !== 0 || span !== length) throw new IntegrityError(`leaf for chunk ${index} of ${root.toString()} spans ${span} bytes from ${offset} before the chunk; the format makes leaf ${index} exactly sealed chunk ${index} (${length} bytes)`)
        const leaf = await collectBytes(blockstore.get(cid, options))
        if (leaf.length !== length) throw new IntegrityError(`leaf ${cid.toString()} for chunk ${index} is ${leaf.length} bytes; its parent says ${length}`)
        return leaf
      }
      if (cid.code !== dagPb.code) throw new IntegrityError(`ciphertext node ${cid.toString()} uses codec 0x${cid.code.toString(16)}, not dag-pb or raw`)
      const { links, ends } = await fileNode(cid, options)
      const nodeSize = ends.at(-1) ?? 0
      if (nodeSize !== span) throw new IntegrityError(depth === 0 ? `ciphertext root ${root.toString()} holds ${nodeSize} bytes; the manifest implies ${total}` : `ciphertext node ${cid.toString()} holds ${nodeSize} bytes; its parent says ${span}`)
      const child = childAt(ends, offset)
      const start = child === 0 ? 0 : ends[child - 1] as number
      offset -= start
      span = (ends[child] as number) - start
      cid = links[child] as CID
    }
    throw new IntegrityError(`ciphertext file ${root.toString()} is deeper than ${MAX_FILE_DEPTH} levels`)
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
   * Chunks fetched until the first one is opened; then the window is `readAhead`. A small start
   * keeps the first chunk from sharing the link with a whole window of read-ahead, so the first
   * byte comes sooner; once it is there, the whole window keeps the link busy. @default readAhead
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
      window = readAhead // the first chunk is in: fill the link
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
