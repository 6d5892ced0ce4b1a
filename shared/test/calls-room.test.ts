/**
 * Room formats (docs/CALLS.md, normative) against fixed vectors, and each vector re-derived
 * with node:crypto as an independent implementation, plus the inputs they must refuse and the
 * mesh's offerer rule.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createDecipheriv, createECDH, createHash, hkdfSync } from 'node:crypto'
import {
  RoomCipher, importEcdhPrivateKey, mediaWrapKey, openRoomId, openRoomKey, parseBody, parseEnvelope,
  parseRoomName, roomTopic, unwrapMediaKey, wrapMediaKey, generateEcdhKeyPair, MAX_ROOM_MESSAGE_BYTES
} from '../src/calls/room.ts'
import type { SealedEnvelope } from '../src/calls/room.ts'
import { joinedBefore } from '../src/calls/api.ts'
import { fromBase64url, fromHex, toHex } from '../src/bytes.ts'
import { IntegrityError, InvalidParamsError } from '../src/errors.ts'

const ORIGIN = 'https://site.example'
const NAME = 'standup'
const ROOM_ID = '0x3bc6322f3d6f44aa40b5ce4ecf300229deaba561bdff682e0a50dea82a8763b0'
const ROOM_KEY = '0x31be81a6d5233e1e833780dbe9b75787a40099db626948112caf68b881d2b2f4'
const TOPIC = '/peerloom/room/1/3bc6322f3d6f44aa40b5ce4ecf300229deaba561bdff682e0a50dea82a8763b0'
const IV = new Uint8Array(12).map((_, i) => i + 1)
const BYE = '{"v":1,"kv":0,"iv":"AQIDBAUGBwgJCgsM","ct":"qXxJXMIUoBKfxB6ibbpGFdmr4KN49lz980CGEeeg"}'
const PEER_A = '16Uiu2HAmQqGY7s2FFtFb8fMhn6uWZygh1Y2dQUBpL5iLRUTypmYW'
const PEER_B = '16Uiu2HAm6x2xRkNwCdjWgG8nLqmiz8oZUsP3sRc5UMx5M3pGKQ6D'
const CHAT = { id: '0123456789abcdef', from: PEER_A, name: 'Ada', at: 1700000000000, text: 'hello' }
const SEALED_CHAT = '{"v":1,"kv":0,"iv":"AQIDBAUGBwgJCgsM","ct":"qXxUQZBLoBiMlFTzevGoZdm51Oxwh2Iw-7DCCSgzmD4zNtsMLwnOH6O666VcGmmZhObTZQKSjZ7Wbjz2kYlocgN_QGcIowSvdE1eGu5DgwiBuJaaCSreocCRLwY7t5L2lm4adi7Xzc95JaBPZqyz37Y5WycNacLkOfbr3YQ1bPHQK1zsRWGnlHXHnxhOPCcN7ob0n0SZ1Q"}'
const JWK_A = { kty: 'EC', crv: 'P-256', x: 'VHF4juUIlLBV2O3k1HT1LzDpAILYwdoKShbfBqv-bD8', y: '4TqJRUs5chhmalMrWzsPrCmgR7oUB_JAs6n4CWLY8RA', d: '0jQPzLwTdyTvIBMNu7Lfak2WTf4GrBH1ZAZuhFOeZJw' }
const JWK_B = { kty: 'EC', crv: 'P-256', x: 'hSvlhmup6ip0KqqaHEcqPgHKkbjo_aFeBKZGmil4rug', y: 'hPb5Poeb6gCA9KIcgpR9ZGcKYR05AgfguP0o04C0TBk', d: '9i5dfEMIxfe-7ypSnwDZK7SO8yeWrlpNS1ZDSNphEg4' }
const MEDIA_KEY = new Uint8Array(32).map((_, i) => 0xa0 + i)

/** AES-256-GCM open with node:crypto: ct ends with the 16-byte tag. */
function gcmOpen (key: Uint8Array, iv: Uint8Array, ct: Uint8Array, aad: string): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, iv)
  decipher.setAAD(Buffer.from(aad))
  decipher.setAuthTag(ct.subarray(ct.length - 16))
  return Buffer.concat([decipher.update(ct.subarray(0, ct.length - 16)), decipher.final()])
}

test('an open room\'s id, key and topic match the vectors and an independent derivation', async () => {
  assert.equal(await openRoomId(ORIGIN, NAME), ROOM_ID)
  assert.equal(toHex(await openRoomKey(ORIGIN, NAME)), ROOM_KEY)
  assert.equal(roomTopic(ROOM_ID), TOPIC)
  assert.equal('0x' + createHash('sha256').update(`peerloom-room/1\n${ORIGIN}\n${NAME}`).digest('hex'), ROOM_ID)
  const hkdf = Buffer.from(hkdfSync('sha256', `${ORIGIN}\n${NAME}`, 'peerloom-room-key/1', fromHex(ROOM_ID), 32))
  assert.equal('0x' + hkdf.toString('hex'), ROOM_KEY)
  // rooms are per origin and per name
  assert.notEqual(await openRoomId('https://other.example', NAME), ROOM_ID)
  assert.notEqual(await openRoomId(ORIGIN, 'standup2'), ROOM_ID)
})

test('room names: open names and content ids parse, anything else is 5000', () => {
  assert.deepEqual(parseRoomName('team.daily~1_A-b'), { kind: 'open', name: 'team.daily~1_A-b' })
  assert.deepEqual(parseRoomName('0x' + 'AB'.repeat(32)), { kind: 'gated', contentId: '0x' + 'ab'.repeat(32) })
  // 0x + 62 hex digits is not a content id, but it is a valid open name
  assert.equal(parseRoomName('0x' + 'ab'.repeat(31)).kind, 'open')
  for (const bad of ['', 'a b', 'x'.repeat(129), 'é', 'a/b', 42, null]) assert.throws(() => parseRoomName(bad), InvalidParamsError, String(bad))
  assert.throws(() => roomTopic('0x1234'), InvalidParamsError)
})

test('an envelope seals to the vector; node:crypto opens it with aad = topic + "\\n" + kv', async () => {
  const cipher = await RoomCipher.create(fromHex(ROOM_KEY), ROOM_ID, 0)
  const data = await cipher.seal({ type: 'bye' }, IV)
  assert.equal(new TextDecoder().decode(data), BYE)
  const envelope = JSON.parse(BYE) as SealedEnvelope
  assert.equal(gcmOpen(fromHex(ROOM_KEY), fromBase64url(envelope.iv), fromBase64url(envelope.ct), `${TOPIC}\n0`).toString(), '{"type":"bye"}')
  assert.deepEqual(await cipher.open(parseEnvelope(data) as SealedEnvelope), { type: 'bye' })
})

test('an envelope under another key, version or topic, or with a flipped bit, does not open (5006)', async () => {
  const key = fromHex(ROOM_KEY)
  const cipher = await RoomCipher.create(key, ROOM_ID, 0)
  const envelope = parseEnvelope(new TextEncoder().encode(BYE)) as SealedEnvelope
  await assert.rejects(cipher.open({ ...envelope, kv: 1 }), IntegrityError)
  await assert.rejects((await RoomCipher.create(key, ROOM_ID, 1)).open({ ...envelope, kv: 1 }), IntegrityError)
  await assert.rejects((await RoomCipher.create(key, '0x' + '11'.repeat(32), 0)).open(envelope), IntegrityError)
  await assert.rejects((await RoomCipher.create(new Uint8Array(32), ROOM_ID, 0)).open(envelope), IntegrityError)
  const ct = fromBase64url(envelope.ct); ct[3]! ^= 1
  await assert.rejects(cipher.open({ ...envelope, ct: Buffer.from(ct).toString('base64url') }), IntegrityError)
  await assert.rejects(RoomCipher.create(new Uint8Array(31), ROOM_ID, 0), InvalidParamsError)
})

test('malformed envelopes are refused with 5000; rekey notices parse', () => {
  const enc = (value: unknown): Uint8Array => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value))
  assert.deepEqual(parseEnvelope(enc({ v: 1, notice: 'rekey', kv: 7 })), { v: 1, notice: 'rekey', kv: 7 })
  const bad: unknown[] = [
    'not json', '[]', 'null', { v: 2, kv: 0, iv: 'AQIDBAUGBwgJCgsM', ct: 'A'.repeat(24) }, { v: 1, kv: -1, iv: 'AQIDBAUGBwgJCgsM', ct: 'A'.repeat(24) },
    { v: 1, kv: 0, iv: 'short', ct: 'A'.repeat(24) }, { v: 1, kv: 0, iv: 'AQIDBAUGBwgJCgsM', ct: 'A+/='.repeat(8) },
    { v: 1, kv: 0, iv: 'AQIDBAUGBwgJCgsM', ct: 'A'.repeat(24), extra: 1 }, { v: 1, notice: 'other', kv: 1 }, { v: 1, notice: 'rekey', kv: 1.5 }
  ]
  for (const value of bad) assert.throws(() => parseEnvelope(enc(value)), InvalidParamsError, JSON.stringify(value))
  assert.throws(() => parseEnvelope(new Uint8Array([0xff, 0xfe])), InvalidParamsError)
  assert.throws(() => parseEnvelope(new Uint8Array(MAX_ROOM_MESSAGE_BYTES + 1).fill(0x20)), InvalidParamsError)
})

test('bodies: known types are checked, unknown types are ignored', () => {
  const ecdh = 'B' + 'A'.repeat(86)
  const hello = { type: 'hello', name: 'Ada', ecdh, joinedAt: 1, forwarder: null, media: { audio: true, video: false, screen: false } }
  assert.deepEqual(parseBody(hello), hello)
  assert.deepEqual(parseBody({ ...hello, keyId: 7 }), { ...hello, keyId: 7 })
  const keyRequest = { type: 'key-request', to: PEER_B, keyId: 7 }
  assert.deepEqual(parseBody(keyRequest), keyRequest)
  assert.equal(parseBody({ type: 'reaction', emoji: '👍' }), undefined)
  const signal = { type: 'signal', to: PEER_B, sid: '00112233aabbccdd', data: { sdp: { type: 'offer', sdp: 'v=0' } } }
  assert.deepEqual(parseBody(signal), signal)
  assert.deepEqual(parseBody({ ...signal, data: { candidate: null } }), { ...signal, data: { candidate: null } })
  const bad: unknown[] = [
    {}, [], 'hello', { type: 7 },
    { ...hello, name: 'x'.repeat(65) }, { ...hello, ecdh: 'short' }, { ...hello, media: { audio: true } }, { ...hello, forwarder: 'not a peer id!' },
    { ...signal, sid: 'xyz' }, { ...signal, to: 'me' }, { ...signal, data: { sdp: { type: 'pranswer', sdp: 'v=0' } } },
    { ...signal, data: { sdp: { type: 'offer', sdp: 'x'.repeat(32_001) } } }, { ...signal, data: {} },
    { type: 'key', to: PEER_B, keyId: 65536, wrapped: 'A'.repeat(80) }, { type: 'key', to: PEER_B, keyId: 1, wrapped: 'A'.repeat(79) },
    { ...hello, keyId: -1 }, { ...keyRequest, keyId: 65536 }, { ...keyRequest, to: 'me' }, { type: 'key-request', to: PEER_B }
  ]
  for (const value of bad) assert.throws(() => parseBody(value), InvalidParamsError, JSON.stringify(value).slice(0, 80))
})

test('a media key wrapped A → B matches the vector, opens only for B from A, and node:crypto derives the same wrap key', async () => {
  const a = await importEcdhPrivateKey(JWK_A)
  const b = await importEcdhPrivateKey(JWK_B)
  const wrapped = await wrapMediaKey(await mediaWrapKey(a.privateKey, b.publicKey, ROOM_ID), MEDIA_KEY, PEER_A, PEER_B, 3, IV)
  assert.equal(wrapped, WRAPPED_A_TO_B)
  const atB = await mediaWrapKey(b.privateKey, a.publicKey, ROOM_ID)
  assert.deepEqual(await unwrapMediaKey(atB, wrapped, PEER_A, PEER_B, 3), MEDIA_KEY)
  // independently: ECDH with node:crypto, HKDF, AES-GCM with aad from\nto\nkeyId
  const ecdh = createECDH('prime256v1')
  ecdh.setPrivateKey(Buffer.from(JWK_A.d, 'base64url'))
  const secret = ecdh.computeSecret(Buffer.from(fromBase64url(b.publicKey)))
  const wrapKey = Buffer.from(hkdfSync('sha256', secret, fromHex(ROOM_ID), 'peerloom-media-key/1', 32))
  const bytes = fromBase64url(wrapped)
  assert.deepEqual(new Uint8Array(gcmOpen(wrapKey, bytes.subarray(0, 12), bytes.subarray(12), `${PEER_A}\n${PEER_B}\n3`)), MEDIA_KEY)
  // reflected (B → A), another key id, another member or room: refused
  await assert.rejects(unwrapMediaKey(atB, wrapped, PEER_B, PEER_A, 3), IntegrityError)
  await assert.rejects(unwrapMediaKey(atB, wrapped, PEER_A, PEER_B, 4), IntegrityError)
  const c = await generateEcdhKeyPair()
  await assert.rejects(unwrapMediaKey(await mediaWrapKey(c.privateKey, a.publicKey, ROOM_ID), wrapped, PEER_A, PEER_B, 3), IntegrityError)
  await assert.rejects(unwrapMediaKey(await mediaWrapKey(b.privateKey, a.publicKey, '0x' + '22'.repeat(32)), wrapped, PEER_A, PEER_B, 3), IntegrityError)
  // not a P-256 point
  await assert.rejects(mediaWrapKey(a.privateKey, Buffer.from(new Uint8Array(65).fill(4)).toString('base64url'), ROOM_ID), InvalidParamsError)
  await assert.rejects(mediaWrapKey(a.privateKey, 'AAAA', ROOM_ID), InvalidParamsError)
})

test('chat seals to the vector, opens back, and never opens as a room message (or back)', async () => {
  const cipher = await RoomCipher.create(fromHex(ROOM_KEY), ROOM_ID, 0)
  assert.equal(await cipher.sealChat(CHAT, IV), SEALED_CHAT)
  const envelope = JSON.parse(SEALED_CHAT) as SealedEnvelope
  assert.deepEqual(JSON.parse(gcmOpen(fromHex(ROOM_KEY), IV, fromBase64url(envelope.ct), `chat\n${TOPIC}\n0`).toString()), CHAT)
  assert.deepEqual(await cipher.openChat(SEALED_CHAT), CHAT)
  await assert.rejects(cipher.open(envelope), IntegrityError)
  await assert.rejects(cipher.openChat(BYE), IntegrityError)
  await assert.rejects(cipher.openChat('{'), InvalidParamsError)
  await assert.rejects(cipher.openChat('x'.repeat(40_000)), InvalidParamsError)
  await assert.rejects(cipher.sealChat({ ...CHAT, text: '' }), InvalidParamsError)
  await assert.rejects(cipher.sealChat({ ...CHAT, text: 'x'.repeat(4001) }), /text/)
  await assert.rejects(cipher.sealChat({ ...CHAT, own: true } as never), InvalidParamsError)
  const long = await cipher.sealChat({ ...CHAT, text: '\u0001'.repeat(4000) }) // worst-case escaping still opens
  assert.equal((await cipher.openChat(long)).text.length, 4000)
})

const WRAPPED_A_TO_B = 'AQIDBAUGBwgJCgsMd29Cs0VgYuEfNBOQnZHhPsBmwQ_BOxTrB5svfpTTTH76L4qcpp7piYutRg1RRDu9'

test('who offers in a mesh: the earlier joinedAt, then the lower peer id, and exactly one of any two', () => {
  const early = { peerId: PEER_A, joinedAt: 1700000000000 }
  const late = { peerId: PEER_B, joinedAt: 1700000000001 }
  assert.equal(joinedBefore(early, late), true)
  assert.equal(joinedBefore(late, early), false)
  // the same moment: string order of the peer ids decides (PEER_B < PEER_A)
  const tied = { peerId: PEER_B, joinedAt: early.joinedAt }
  assert.equal(joinedBefore(tied, early), true)
  assert.equal(joinedBefore(early, tied), false)
  assert.equal(joinedBefore(early, { ...early }), false)
})
