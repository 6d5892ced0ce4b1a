/**
 * Call rooms on the wire (docs/CALLS.md, Rooms and Room messages, normative): room ids and
 * keys, the topic, the sealed envelope every gossipsub message carries, the bodies inside it,
 * media-key wrapping between two members (ECDH P-256) and sealed chat. WebCrypto only, so the
 * extension, Node tools and an independent implementation agree byte for byte.
 *
 * @example
 * ```ts
 * const roomId = await openRoomId('https://site.example', 'standup')
 * const cipher = await RoomCipher.create(await openRoomKey('https://site.example', 'standup'), roomId, 0)
 * const data = await cipher.seal({ type: 'bye' })
 * const body = await cipher.open(data) // { type: 'bye' }
 * ```
 */
import { z } from 'zod'
import { fromBase64url, fromHex, toBase64url, toHex } from '../bytes.ts'
import { IntegrityError, InvalidParamsError } from '../errors.ts'
import { ROOM_TOPIC_PREFIX } from '../protocols.ts'

/** Presence is sent this often. @default 2_000 */
export const PRESENCE_INTERVAL_MS = 2_000
/** A member unheard this long has left. @default 7_000 */
export const PRESENCE_TIMEOUT_MS = 7_000
/** A sender switches to its new media key this long after sending it. @default 500 */
export const KEY_SWITCH_DELAY_MS = 500
/** A receiver keeps a sender's previous media key this long after a new one. @default 5_000 */
export const OLD_KEY_GRACE_MS = 5_000
/** Chat messages kept per origin and room. @default 1000 */
export const CHAT_HISTORY_LIMIT = 1000
/** Longest chat text. @default 4000 */
export const MAX_CHAT_TEXT = 4000
/** Largest gossipsub message on a room topic. @default 64 KiB */
export const MAX_ROOM_MESSAGE_BYTES = 64 * 1024
/** Longest display name. @default 64 */
export const MAX_NAME_LENGTH = 64
/** Longest SDP a signal may carry (a few dozen transceivers fit). @default 32_000 */
export const MAX_SDP_LENGTH = 32_000

export const ROOM_ID_DOMAIN = 'peerloom-room/1'
export const ROOM_KEY_SALT = 'peerloom-room-key/1'
export const MEDIA_KEY_INFO = 'peerloom-media-key/1'

const ROOM_NAME = /^[A-Za-z0-9._~-]{1,128}$/
const CONTENT_ID = /^0x[0-9a-fA-F]{64}$/
const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })
const subtle = globalThis.crypto.subtle

/** What `call.join(room)` names: an open room by name, or a gated room by content id. */
export type RoomName = { kind: 'open', name: string } | { kind: 'gated', contentId: string }

/** Parses a page's room argument; throws InvalidParamsError (5000) for anything else. */
export function parseRoomName (room: unknown): RoomName {
  if (typeof room === 'string' && CONTENT_ID.test(room)) return { kind: 'gated', contentId: room.toLowerCase() }
  if (typeof room === 'string' && ROOM_NAME.test(room)) return { kind: 'open', name: room }
  throw new InvalidParamsError('a room is a name of 1 to 128 characters of A-Z a-z 0-9 . _ ~ -, or a content id (0x + 64 hex digits)')
}

/** An open room's id: sha256(utf8("peerloom-room/1\n" + origin + "\n" + name)) as 0x-hex. */
export async function openRoomId (origin: string, name: string): Promise<string> {
  const digest = await subtle.digest('SHA-256', encoder.encode(`${ROOM_ID_DOMAIN}\n${origin}\n${name}`))
  return toHex(new Uint8Array(digest))
}

/** An open room's key (version 0): HKDF-SHA256(utf8(origin + "\n" + name), salt "peerloom-room-key/1", info = room id bytes), 32 bytes. */
export async function openRoomKey (origin: string, name: string): Promise<Uint8Array> {
  const roomId = await openRoomId(origin, name)
  const ikm = await subtle.importKey('raw', encoder.encode(`${origin}\n${name}`), 'HKDF', false, ['deriveBits'])
  const bits = await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: encoder.encode(ROOM_KEY_SALT), info: fromHex(roomId, 32) as BufferSource }, ikm, 256)
  return new Uint8Array(bits)
}

/** The gossipsub topic of a room. */
export function roomTopic (roomId: string): string {
  if (!CONTENT_ID.test(roomId)) throw new InvalidParamsError('a room id is 0x + 64 hex digits')
  return ROOM_TOPIC_PREFIX + roomId.slice(2).toLowerCase()
}

const b64url = (min: number, max: number): z.ZodString => z.string().min(min).max(max).regex(/^[A-Za-z0-9_-]*$/, 'must be base64url')
/** A libp2p peer id as a string (base58btc multihash, or a CID). */
export const peerIdSchema = z.string().min(40).max(100).regex(/^[1-9A-HJ-NP-Za-km-z]+$/, 'must be a peer id')
const keyVersion = z.number().int().min(0).max(0xffffffff)

const sealedEnvelope = z.strictObject({ v: z.literal(1), kv: keyVersion, iv: b64url(16, 16), ct: b64url(22, Math.ceil(MAX_ROOM_MESSAGE_BYTES * 4 / 3)) })
const noticeEnvelope = z.strictObject({ v: z.literal(1), notice: z.literal('rekey'), kv: keyVersion })
const envelopeSchema = z.union([sealedEnvelope, noticeEnvelope])

export type SealedEnvelope = z.output<typeof sealedEnvelope>
/** The key service's unencrypted hint (shared/src/calls/gated-room.ts writes it). */
export type RekeyNoticeEnvelope = z.output<typeof noticeEnvelope>

/** Reads a room message's data: a sealed envelope or a rekey notice. Throws InvalidParamsError when it is neither. */
export function parseEnvelope (data: Uint8Array): SealedEnvelope | RekeyNoticeEnvelope {
  if (data.length > MAX_ROOM_MESSAGE_BYTES) throw new InvalidParamsError(`a room message is at most ${MAX_ROOM_MESSAGE_BYTES} bytes, got ${data.length}`)
  let json: unknown
  try {
    json = JSON.parse(decoder.decode(data))
  } catch {
    throw new InvalidParamsError('a room message must be UTF-8 JSON')
  }
  const parsed = envelopeSchema.safeParse(json)
  if (!parsed.success) throw new InvalidParamsError(`malformed room envelope: ${describe(parsed.error)}`)
  return parsed.data
}

export const mediaFlagsSchema = z.strictObject({ audio: z.boolean(), video: z.boolean(), screen: z.boolean() })
const iceCandidate = z.object({
  candidate: z.string().max(1024).optional(),
  sdpMid: z.string().max(64).nullable().optional(),
  sdpMLineIndex: z.number().int().min(0).max(1024).nullable().optional(),
  usernameFragment: z.string().max(256).nullable().optional()
})

/** What a page's RTCPeerConnection hands through the node: an SDP, or an ICE candidate (null: no more). */
export const signalDataSchema = z.union([
  z.strictObject({ sdp: z.strictObject({ type: z.enum(['offer', 'answer']), sdp: z.string().min(1).max(MAX_SDP_LENGTH) }) }),
  z.strictObject({ candidate: iceCandidate.nullable() })
])

/** 16 hex digits: a signalling session or a chat message. */
export const shortIdSchema = z.string().regex(/^[0-9a-f]{16}$/, 'must be 16 lower-case hex digits')

/** A sender's media key id (uint16, CALLS.md, Media frames). */
const keyIdSchema = z.number().int().min(0).max(0xffff)

export const helloBodySchema = z.object({
  type: z.literal('hello'),
  name: z.string().max(MAX_NAME_LENGTH),
  ecdh: b64url(87, 87),
  joinedAt: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  forwarder: peerIdSchema.nullable(),
  media: mediaFlagsSchema,
  /** The sender's current media key id (absent from older senders). */
  keyId: keyIdSchema.optional()
})
export const byeBodySchema = z.object({ type: z.literal('bye') })
export const signalBodySchema = z.object({ type: z.literal('signal'), to: peerIdSchema, sid: shortIdSchema, data: signalDataSchema })
/** 12 bytes iv + 32 bytes key + 16 bytes tag = 60 bytes = 80 base64url characters. */
export const keyBodySchema = z.object({ type: z.literal('key'), to: peerIdSchema, keyId: keyIdSchema, wrapped: b64url(80, 80) })

/** Asks member `to` for its current media key: its hellos name a key id this member never got. */
export const keyRequestBodySchema = z.object({ type: z.literal('key-request'), to: peerIdSchema, keyId: keyIdSchema })

export type HelloBody = z.output<typeof helloBodySchema>
export type ByeBody = z.output<typeof byeBodySchema>
export type SignalBody = z.output<typeof signalBodySchema>
export type KeyBody = z.output<typeof keyBodySchema>
export type KeyRequestBody = z.output<typeof keyRequestBodySchema>
export type RoomBody = HelloBody | ByeBody | SignalBody | KeyBody | KeyRequestBody

const bodySchema = z.discriminatedUnion('type', [helloBodySchema, byeBodySchema, signalBodySchema, keyBodySchema, keyRequestBodySchema])
const KNOWN_TYPES = new Set(['hello', 'bye', 'signal', 'key', 'key-request'])

/**
 * Checks a decrypted body: a known type that is well formed, or `undefined` for a type this
 * version does not know (a newer peer's; ignored). Throws InvalidParamsError when malformed.
 */
export function parseBody (json: unknown): RoomBody | undefined {
  const type = typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as { type?: unknown }).type : undefined
  if (typeof type !== 'string') throw new InvalidParamsError('a room message body needs a string type')
  if (!KNOWN_TYPES.has(type)) return undefined
  const parsed = bodySchema.safeParse(json)
  if (!parsed.success) throw new InvalidParamsError(`malformed ${type} message: ${describe(parsed.error)}`)
  return parsed.data
}

function describe (error: z.ZodError): string {
  const issue = error.issues[0]
  return issue === undefined ? 'invalid' : `${issue.path.join('.') || 'value'} ${issue.message}`
}

async function importAesKey (raw: Uint8Array): Promise<CryptoKey> {
  if (!(raw instanceof Uint8Array) || raw.length !== 32) throw new InvalidParamsError('a room key is 32 bytes')
  return await subtle.importKey('raw', raw as BufferSource, 'AES-GCM', false, ['encrypt', 'decrypt'])
}

/** Seals and opens one room's messages (and chat) under one key version. */
export class RoomCipher {
  readonly roomId: string
  readonly topic: string
  readonly kv: number
  private readonly key: CryptoKey

  private constructor (key: CryptoKey, roomId: string, kv: number) {
    this.key = key
    this.roomId = roomId.toLowerCase()
    this.topic = roomTopic(roomId)
    this.kv = kv
  }

  /** `key`: the room key (32 bytes) of key version `kv`. */
  static async create (key: Uint8Array, roomId: string, kv: number): Promise<RoomCipher> {
    if (!Number.isSafeInteger(kv) || kv < 0 || kv > 0xffffffff) throw new InvalidParamsError('a key version is a uint32')
    return new RoomCipher(await importAesKey(key), roomId, kv)
  }

  /** aad of a room message: utf8(topic + "\n" + kv). */
  private messageAad (): Uint8Array {
    return encoder.encode(`${this.topic}\n${this.kv}`)
  }

  /** aad of a chat message: utf8("chat\n" + topic + "\n" + kv), so a room message never opens as chat or back. */
  private chatAad (): Uint8Array {
    return encoder.encode(`chat\n${this.topic}\n${this.kv}`)
  }

  private async sealJson (value: unknown, aad: Uint8Array, iv: Uint8Array): Promise<SealedEnvelope> {
    const ct = await subtle.encrypt({ name: 'AES-GCM', iv: iv as BufferSource, additionalData: aad as BufferSource }, this.key, encoder.encode(JSON.stringify(value)))
    return { v: 1, kv: this.kv, iv: toBase64url(iv), ct: toBase64url(new Uint8Array(ct)) }
  }

  private async openJson (envelope: SealedEnvelope, aad: Uint8Array): Promise<unknown> {
    if (envelope.kv !== this.kv) throw new IntegrityError(`sealed under key version ${envelope.kv}, this room is at ${this.kv}`)
    let plain: ArrayBuffer
    try {
      plain = await subtle.decrypt({ name: 'AES-GCM', iv: fromBase64url(envelope.iv) as BufferSource, additionalData: aad as BufferSource }, this.key, fromBase64url(envelope.ct) as BufferSource)
    } catch (err) {
      throw new IntegrityError('a sealed room message did not open: wrong key or tampered bytes', { cause: err })
    }
    try {
      return JSON.parse(decoder.decode(plain))
    } catch {
      throw new InvalidParamsError('a sealed room message is not UTF-8 JSON')
    }
  }

  /** A room message's data: the envelope of `body` as UTF-8 JSON. `iv` is random unless given (test vectors). */
  async seal (body: RoomBody, iv: Uint8Array = crypto.getRandomValues(new Uint8Array(12))): Promise<Uint8Array> {
    const data = encoder.encode(JSON.stringify(await this.sealJson(body, this.messageAad(), iv)))
    if (data.length > MAX_ROOM_MESSAGE_BYTES) throw new InvalidParamsError(`a room message is at most ${MAX_ROOM_MESSAGE_BYTES} bytes; this one is ${data.length}`)
    return data
  }

  /**
   * Opens a sealed envelope to its body (undefined for an unknown type). Throws IntegrityError
   * (5006) when it does not open, InvalidParamsError (5000) when it opens to something malformed.
   */
  async open (envelope: SealedEnvelope): Promise<RoomBody | undefined> {
    return parseBody(await this.openJson(envelope, this.messageAad()))
  }

  /** A chat message sealed for the room: `{ v, kv, iv, ct }` as a JSON string. */
  async sealChat (message: ChatPayload, iv: Uint8Array = crypto.getRandomValues(new Uint8Array(12))): Promise<string> {
    const checked = chatPayloadSchema.safeParse(message)
    if (!checked.success) throw new InvalidParamsError(`malformed chat message: ${describe(checked.error)}`)
    return JSON.stringify(await this.sealJson(checked.data, this.chatAad(), iv))
  }

  /** Opens a sealed chat message; throws IntegrityError or InvalidParamsError. */
  async openChat (sealed: string): Promise<ChatPayload> {
    if (typeof sealed !== 'string' || sealed.length > 8 * MAX_CHAT_TEXT + 1024) throw new InvalidParamsError('a sealed chat message is a string of at most 33 KiB')
    let json: unknown
    try {
      json = JSON.parse(sealed)
    } catch {
      throw new InvalidParamsError('a sealed chat message is JSON')
    }
    const envelope = sealedEnvelope.safeParse(json)
    if (!envelope.success) throw new InvalidParamsError(`malformed sealed chat message: ${describe(envelope.error)}`)
    const payload = chatPayloadSchema.safeParse(await this.openJson(envelope.data, this.chatAad()))
    if (!payload.success) throw new InvalidParamsError(`malformed chat message: ${describe(payload.error)}`)
    return payload.data
  }
}

export const chatPayloadSchema = z.strictObject({
  id: shortIdSchema,
  from: peerIdSchema,
  name: z.string().max(MAX_NAME_LENGTH),
  at: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  text: z.string().min(1).max(MAX_CHAT_TEXT)
})
export type ChatPayload = z.output<typeof chatPayloadSchema>

/** A member's ECDH key pair for media-key wrapping (P-256), with its public key raw (65 bytes) as base64url. */
export interface EcdhKeyPair {
  privateKey: CryptoKey
  publicKey: string
}

export async function generateEcdhKeyPair (): Promise<EcdhKeyPair> {
  const pair = await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits'])
  return { privateKey: pair.privateKey, publicKey: toBase64url(new Uint8Array(await subtle.exportKey('raw', pair.publicKey))) }
}

/** Imports a P-256 private key from its JWK `d` (and public point) — for fixed test vectors. */
export async function importEcdhPrivateKey (jwk: JsonWebKey): Promise<EcdhKeyPair> {
  const privateKey = await subtle.importKey('jwk', jwk, { name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits'])
  const publicJwk: JsonWebKey = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }
  const publicKey = await subtle.importKey('jwk', publicJwk, { name: 'ECDH', namedCurve: 'P-256' }, true, [])
  return { privateKey, publicKey: toBase64url(new Uint8Array(await subtle.exportKey('raw', publicKey))) }
}

/**
 * The AES-256-GCM key that wraps media keys between two members:
 * HKDF-SHA256(ECDH(own private, their public), salt = room id bytes, info = "peerloom-media-key/1").
 * ECDH is symmetric, so both members derive the same key; the aad of each wrap names its direction.
 */
export async function mediaWrapKey (own: CryptoKey, theirPublicKey: string, roomId: string): Promise<CryptoKey> {
  const raw = fromBase64url(theirPublicKey, 'ecdh public key')
  if (raw.length !== 65 || raw[0] !== 0x04) throw new InvalidParamsError('an ecdh public key is a raw uncompressed P-256 point (65 bytes)')
  let theirs: CryptoKey
  try {
    theirs = await subtle.importKey('raw', raw as BufferSource, { name: 'ECDH', namedCurve: 'P-256' }, false, [])
  } catch (err) {
    throw new InvalidParamsError('an ecdh public key is not a point on P-256', { cause: err })
  }
  const secret = await subtle.deriveBits({ name: 'ECDH', public: theirs }, own, 256)
  const ikm = await subtle.importKey('raw', secret, 'HKDF', false, ['deriveKey'])
  return await subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: fromHex(roomId, 32, 'room id') as BufferSource, info: encoder.encode(MEDIA_KEY_INFO) },
    ikm,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt']
  )
}

/** aad of a wrapped media key: utf8(from + "\n" + to + "\n" + keyId), so it cannot be passed off as another member's or another id's. */
function wrapAad (from: string, to: string, keyId: number): Uint8Array {
  return encoder.encode(`${from}\n${to}\n${keyId}`)
}

/** Wraps a 32-byte media key from `from` to `to`: iv (12) ‖ AES-256-GCM(wrapKey, iv, key, aad) as base64url. */
export async function wrapMediaKey (wrapKey: CryptoKey, mediaKey: Uint8Array, from: string, to: string, keyId: number, iv: Uint8Array = crypto.getRandomValues(new Uint8Array(12))): Promise<string> {
  if (mediaKey.length !== 32) throw new InvalidParamsError('a media key is 32 bytes')
  const ct = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: iv as BufferSource, additionalData: wrapAad(from, to, keyId) as BufferSource }, wrapKey, mediaKey as BufferSource))
  const out = new Uint8Array(12 + ct.length)
  out.set(iv)
  out.set(ct, 12)
  return toBase64url(out)
}

/** Unwraps a media key `from` sent `to`; throws IntegrityError when it does not open. */
export async function unwrapMediaKey (wrapKey: CryptoKey, wrapped: string, from: string, to: string, keyId: number): Promise<Uint8Array> {
  const bytes = fromBase64url(wrapped, 'wrapped key')
  if (bytes.length !== 60) throw new InvalidParamsError('a wrapped media key is 60 bytes')
  try {
    const key = await subtle.decrypt({ name: 'AES-GCM', iv: bytes.subarray(0, 12) as BufferSource, additionalData: wrapAad(from, to, keyId) as BufferSource }, wrapKey, bytes.subarray(12) as BufferSource)
    return new Uint8Array(key)
  } catch (err) {
    throw new IntegrityError('a wrapped media key did not open: not for this member, or tampered', { cause: err })
  }
}

/** A fresh 16-hex-digit id (chat messages, signalling sessions). */
export function shortId (): string {
  return toHex(crypto.getRandomValues(new Uint8Array(8))).slice(2)
}
