/**
 * The chunk cipher (docs/DESIGN.md, Formats): AES-256-GCM under an HKDF-SHA-256 chunk key,
 * nonce = 4 zero bytes ‖ uint64-BE index, additional data = content id ‖ uint64-BE index.
 *
 * @example
 * ```ts
 * const cipher = await ChunkCipher.create(contentKey, contentId)
 * const sealed = await cipher.seal(0, plaintext)
 * const opened = await cipher.open(0, sealed)
 * ```
 */
import { IntegrityError, InvalidParamsError } from './errors.ts'

/** The manifest's `cipher` value for this construction. */
export const CIPHER_ID = 'aes-256-gcm/hkdf-sha256/v1'
/** HKDF `info` for chunk keys. */
export const CHUNK_KEY_INFO = 'peerloom/chunk/v1'
/** Bytes the GCM tag adds to every chunk. */
export const TAG_BYTES = 16
export const CONTENT_KEY_BYTES = 32
export const CONTENT_ID_BYTES = 32
/** Smallest plaintext chunk size a manifest may name. */
export const MIN_CHUNK_SIZE = 1024
/** Largest plaintext chunk size a manifest may name: a sealed chunk must fit one bitswap block. */
export const MAX_CHUNK_SIZE = 1024 * 1024
/** Default plaintext chunk size (see shared/bench/README.md for the measurement behind it). */
export const DEFAULT_CHUNK_SIZE = 256 * 1024

const subtle = globalThis.crypto.subtle
const encoder = new TextEncoder()

/** Throws unless `chunkSize` is an integer in [MIN_CHUNK_SIZE, MAX_CHUNK_SIZE]. */
export function assertChunkSize (chunkSize: number): void {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new InvalidParamsError(`chunk size must be an integer from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE} bytes, got ${String(chunkSize)}`)
  }
}

function assertLength (name: string, bytes: Uint8Array, length: number): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new InvalidParamsError(`${name} must be ${length} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`)
  }
}

function assertIndex (index: number): void {
  if (!Number.isSafeInteger(index) || index < 0) throw new InvalidParamsError(`chunk index must be a non-negative integer, got ${String(index)}`)
}

/** Derives the AES-256-GCM chunk key: HKDF-SHA-256(IKM = content key, salt = content id, info = "peerloom/chunk/v1"). */
export async function deriveChunkKey (contentKey: Uint8Array, contentId: Uint8Array, extractable = false): Promise<CryptoKey> {
  assertLength('content key', contentKey, CONTENT_KEY_BYTES)
  assertLength('content id', contentId, CONTENT_ID_BYTES)
  const ikm = await subtle.importKey('raw', contentKey as BufferSource, 'HKDF', false, ['deriveKey'])
  return await subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: contentId as BufferSource, info: encoder.encode(CHUNK_KEY_INFO) },
    ikm,
    { name: 'AES-GCM', length: 256 },
    extractable,
    ['encrypt', 'decrypt']
  )
}

/** The 12-byte nonce of chunk `index`: 4 zero bytes ‖ uint64 big-endian index. */
export function chunkNonce (index: number): Uint8Array<ArrayBuffer> {
  assertIndex(index)
  const nonce = new Uint8Array(12)
  new DataView(nonce.buffer).setBigUint64(4, BigInt(index))
  return nonce
}

/** The additional data of chunk `index`: content id (32 bytes) ‖ uint64 big-endian index. */
export function chunkAad (contentId: Uint8Array, index: number): Uint8Array<ArrayBuffer> {
  assertIndex(index)
  const aad = new Uint8Array(CONTENT_ID_BYTES + 8)
  aad.set(contentId)
  new DataView(aad.buffer).setBigUint64(CONTENT_ID_BYTES, BigInt(index))
  return aad
}

/** Seals and opens the chunks of one piece of content. */
export class ChunkCipher {
  readonly contentId: Uint8Array
  private readonly key: CryptoKey

  private constructor (key: CryptoKey, contentId: Uint8Array) {
    this.key = key
    this.contentId = contentId.slice()
  }

  /** Derives the chunk key for `contentKey` and `contentId` (both 32 bytes). */
  static async create (contentKey: Uint8Array, contentId: Uint8Array): Promise<ChunkCipher> {
    return new ChunkCipher(await deriveChunkKey(contentKey, contentId), contentId)
  }

  /** Encrypts chunk `index`; returns ciphertext ‖ 16-byte tag. */
  async seal (index: number, plaintext: Uint8Array): Promise<Uint8Array> {
    const sealed = await subtle.encrypt(
      { name: 'AES-GCM', iv: chunkNonce(index), additionalData: chunkAad(this.contentId, index), tagLength: TAG_BYTES * 8 },
      this.key,
      plaintext as BufferSource
    )
    return new Uint8Array(sealed)
  }

  /** Decrypts and authenticates chunk `index`; throws IntegrityError if anything about it is wrong. */
  async open (index: number, sealed: Uint8Array): Promise<Uint8Array> {
    if (sealed.length < TAG_BYTES) throw new IntegrityError(`chunk ${index} is truncated: ${sealed.length} bytes is shorter than the ${TAG_BYTES}-byte tag`)
    try {
      const plain = await subtle.decrypt(
        { name: 'AES-GCM', iv: chunkNonce(index), additionalData: chunkAad(this.contentId, index), tagLength: TAG_BYTES * 8 },
        this.key,
        sealed as BufferSource
      )
      return new Uint8Array(plain)
    } catch (err) {
      throw new IntegrityError(`chunk ${index} failed authentication: wrong key, wrong content, wrong position or tampered bytes`, { cause: err })
    }
  }
}

/** Number of chunks of a `size`-byte file: an empty file still has one (empty) chunk. */
export function chunkCount (size: number, chunkSize: number): number {
  return size === 0 ? 1 : Math.ceil(size / chunkSize)
}

/** Plaintext length of chunk `index` of a `size`-byte file. */
export function plainChunkLength (index: number, size: number, chunkSize: number): number {
  return Math.max(0, Math.min(chunkSize, size - index * chunkSize))
}

/** Sealed (on-the-wire) length of chunk `index`. */
export function sealedChunkLength (index: number, size: number, chunkSize: number): number {
  return plainChunkLength(index, size, chunkSize) + TAG_BYTES
}

/** Size of the whole ciphertext file for a `size`-byte plaintext. */
export function sealedSize (size: number, chunkSize: number): number {
  return size + chunkCount(size, chunkSize) * TAG_BYTES
}

/** The chunks [first, last] (inclusive) that byte range [start, end) touches; null for an empty range. */
export function chunksForRange (start: number, end: number, chunkSize: number): { first: number, last: number } | null {
  if (end <= start) return null
  return { first: Math.floor(start / chunkSize), last: Math.floor((end - 1) / chunkSize) }
}
