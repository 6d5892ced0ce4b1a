/**
 * The media frame format (docs/CALLS.md, "Media frames", normative): each encoded audio or
 * video frame is sealed with its sender's AES-256-GCM media key, leaving the first bytes clear
 * so RTP packetisers still read the codec header:
 *
 * ```
 * frame' = clear || AES-256-GCM(key, iv, frame[clear:], aad = clear) || iv (12) || keyId (2, BE) || 0x01
 * iv     = 4-byte salt fixed per key || 8-byte big-endian frame counter
 * ```
 *
 * WebCrypto only and no other imports but the error classes, so the call page's
 * `RTCRtpScriptTransform` worker bundles it for almost nothing.
 */
import { IntegrityError, InvalidParamsError } from '../errors.ts'

/** Bytes left clear: of a video key frame, a video delta frame, an audio frame. */
export const CLEAR_BYTES = { key: 10, delta: 3, audio: 1 } as const

export type FrameKind = keyof typeof CLEAR_BYTES

export const FRAME_IV_BYTES = 12
export const FRAME_SALT_BYTES = 4
export const FRAME_TAG_BYTES = 16
/** iv, keyId and the format byte. */
export const FRAME_TRAILER_BYTES = FRAME_IV_BYTES + 2 + 1
/** The last byte of every sealed frame: this format's version. */
export const FRAME_FORMAT = 0x01
export const MEDIA_KEY_BYTES = 32
/** keyId is a uint16. */
export const MAX_KEY_ID = 0xffff

const SMALLEST_SEALED = FRAME_TAG_BYTES + FRAME_TRAILER_BYTES

/** Imports a 32-byte media key for sealing and opening frames. */
export async function importMediaKey (raw: ArrayBuffer | Uint8Array): Promise<CryptoKey> {
  if (raw.byteLength !== MEDIA_KEY_BYTES) throw new InvalidParamsError(`a media key is ${MEDIA_KEY_BYTES} bytes, got ${raw.byteLength}`)
  return await globalThis.crypto.subtle.importKey('raw', raw as BufferSource, 'AES-GCM', false, ['encrypt', 'decrypt'])
}

/**
 * Seals frames under one media key. The counter makes each iv unique, so one sealer must be
 * shared by every sender that uses the key (one per call, in its worker).
 */
export class FrameSealer {
  readonly keyId: number
  private readonly key: CryptoKey
  private readonly salt: Uint8Array
  private counter: bigint

  /** `salt` (4 bytes) and `counter` are random and 0 unless given (test vectors give them). */
  constructor (keyId: number, key: CryptoKey, options: { salt?: Uint8Array, counter?: bigint } = {}) {
    if (!Number.isInteger(keyId) || keyId < 0 || keyId > MAX_KEY_ID) throw new InvalidParamsError(`keyId must be a uint16, got ${keyId}`)
    const salt = options.salt ?? globalThis.crypto.getRandomValues(new Uint8Array(FRAME_SALT_BYTES))
    if (salt.length !== FRAME_SALT_BYTES) throw new InvalidParamsError(`the iv salt is ${FRAME_SALT_BYTES} bytes`)
    this.keyId = keyId
    this.key = key
    this.salt = Uint8Array.from(salt)
    this.counter = options.counter ?? 0n
  }

  /** Frames sealed so far (the next frame's counter). */
  get frames (): bigint {
    return this.counter
  }

  /** Seals one encoded frame of `kind`. */
  async seal (frame: Uint8Array, kind: FrameKind): Promise<Uint8Array> {
    if (this.counter > 0xffffffffffffffffn) throw new IntegrityError('this media key sealed 2^64 frames; a new key is needed')
    const iv = new Uint8Array(FRAME_IV_BYTES)
    iv.set(this.salt)
    new DataView(iv.buffer).setBigUint64(FRAME_SALT_BYTES, this.counter)
    this.counter++
    const clear = Math.min(CLEAR_BYTES[kind], frame.length)
    const head = frame.subarray(0, clear)
    const sealed = new Uint8Array(await globalThis.crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: head as BufferSource }, this.key, frame.subarray(clear) as BufferSource))
    const out = new Uint8Array(clear + sealed.length + FRAME_TRAILER_BYTES)
    out.set(head)
    out.set(sealed, clear)
    let at = clear + sealed.length
    out.set(iv, at)
    at += FRAME_IV_BYTES
    out[at++] = this.keyId >>> 8
    out[at++] = this.keyId & 0xff
    out[at] = FRAME_FORMAT
    return out
  }
}

/** The keyId a sealed frame names, or null when it is not in this format. */
export function frameKeyId (sealed: Uint8Array): number | null {
  if (sealed.length < SMALLEST_SEALED || sealed[sealed.length - 1] !== FRAME_FORMAT) return null
  return (sealed[sealed.length - 3]! << 8) | sealed[sealed.length - 2]!
}

/** Opens a sealed frame of `kind` with the key its keyId named; IntegrityError when it does not open. */
export async function openFrame (key: CryptoKey, sealed: Uint8Array, kind: FrameKind): Promise<Uint8Array> {
  if (frameKeyId(sealed) === null) throw new IntegrityError(`not a sealed media frame (${sealed.length} bytes)`)
  const body = sealed.length - FRAME_TRAILER_BYTES
  // a frame shorter than its kind's clear part was sealed with all of it clear
  const clear = Math.min(CLEAR_BYTES[kind], body - FRAME_TAG_BYTES)
  const iv = sealed.subarray(body, body + FRAME_IV_BYTES)
  const head = sealed.subarray(0, clear)
  let plain: ArrayBuffer
  try {
    plain = await globalThis.crypto.subtle.decrypt({ name: 'AES-GCM', iv: iv as BufferSource, additionalData: head as BufferSource }, key, sealed.subarray(clear, body) as BufferSource)
  } catch (err) {
    throw new IntegrityError('a media frame failed authentication: wrong key or tampered bytes', { cause: err })
  }
  const out = new Uint8Array(clear + plain.byteLength)
  out.set(head)
  out.set(new Uint8Array(plain), clear)
  return out
}
