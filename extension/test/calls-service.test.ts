/**
 * Calls between real libp2p nodes on loopback (TCP, noise, yamux, gossipsub) with real
 * CallServices and chat history in (fake) IndexedDB: presence, signalling to the addressed
 * member only, media keys and their rotation, chat, malformed messages, limits and codes,
 * and a gated room whose key service removes a holder.
 */
import './polyfills.ts'
import 'fake-indexeddb/auto'
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Libp2p } from '@libp2p/interface'
import { AccessDeniedError, ErrorCode, NotFoundError, isPeerloomError } from '@peerloom/shared'
import type { CallEvent, CallJoinResult, MediaKey } from '@peerloom/shared/calls/api'
import { RoomCipher, openRoomId, openRoomKey, roomTopic } from '@peerloom/shared/calls/room'
import { loopbackNode, stopLoopbackNodes } from './calls-fixtures.ts'
import { CallService } from '../src/calls/call-service.ts'
import type { CallPubSub } from '../src/calls/call-service.ts'
import { ChatHistory, openCallsDb } from '../src/calls/calls-db.ts'
import type { RoomCall } from '../src/calls/room-call.ts'
import type { GatedRoomKeys, RoomKey } from '../src/calls/room-keys.ts'

const ORIGIN = 'https://meet.example'
const MEDIA = { audio: true, video: true, screen: false }
const DEADLINE_MS = 60_000

let dbCount = 0
let a: Libp2p, b: Libp2p, c: Libp2p

async function service (node: Libp2p, options: { maxParticipants?: number, gatedKeys?: GatedRoomKeys, dbName?: string } = {}): Promise<CallService> {
  const calls = new CallService({
    db: await openCallsDb(options.dbName ?? `calls-test-${process.pid}-${dbCount++}`),
    iceServers: () => [{ urls: 'stun:127.0.0.1:3478' }],
    ...(options.maxParticipants === undefined ? {} : { maxParticipants: options.maxParticipants }),
    ...(options.gatedKeys === undefined ? {} : { gatedKeys: options.gatedKeys })
  })
  await calls.attach(node)
  return calls
}

function pubsubOf (node: Libp2p): CallPubSub {
  return (node.services as { pubsub: CallPubSub }).pubsub
}

async function waitFor<T> (what: string, probe: () => T | undefined | false, deadlineMs = DEADLINE_MS): Promise<T> {
  const until = Date.now() + deadlineMs
  for (;;) {
    const value = probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/** A joined call with the events its page would have received. */
interface Joined {
  call: RoomCall
  result: CallJoinResult
  events: CallEvent[]
  peerId: string
}

async function join (calls: CallService, room: string, name: string): Promise<Joined> {
  const events: CallEvent[] = []
  const { call, result } = await calls.join({ origin: ORIGIN, room, name, media: MEDIA, onEvent: event => { events.push(event) } })
  return { call, result, events, peerId: result.self.peerId }
}

function sees (x: Joined, y: Joined): boolean {
  return x.call.participants().some(p => p.peerId === y.peerId)
}

/** The latest media key x's page was given for y. */
function keyOf (x: Joined, y: Joined): MediaKey | undefined {
  return x.events.filter((e): e is Extract<CallEvent, { type: 'media-key' }> => e.type === 'media-key' && e.peerId === y.peerId).at(-1)?.key
}

function sameKey (k1: MediaKey | undefined, k2: MediaKey): boolean {
  return k1 !== undefined && k1.keyId === k2.keyId && Buffer.from(k1.key).equals(Buffer.from(k2.key))
}

function code (err: unknown): number | undefined {
  return isPeerloomError(err) ? err.code : undefined
}

async function connectAll (list: Libp2p[]): Promise<void> {
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) await list[i]!.dial(list[j]!.getMultiaddrs())
  }
}

before(async () => {
  a = await loopbackNode()
  b = await loopbackNode()
  c = await loopbackNode()
  await connectAll([a, b, c])
}, { timeout: 120_000 })

after(async () => {
  await stopLoopbackNodes()
})

test('members see each other, get each other\'s media keys, and signals reach only the member addressed', { timeout: 120_000 }, async () => {
  const [sa, sb, sc] = await Promise.all([service(a), service(b), service(c)])
  const ja = await join(sa, 'standup', 'Ada')
  const jb = await join(sb, 'standup', 'Bob')
  assert.equal(ja.result.roomId, await openRoomId(ORIGIN, 'standup'))
  assert.equal(ja.result.topology, 'mesh')
  assert.deepEqual(ja.result.iceServers, [{ urls: 'stun:127.0.0.1:3478' }])
  assert.equal(ja.result.ownKey.key.byteLength, 32)
  await waitFor('A and B to see each other', () => sees(ja, jb) && sees(jb, ja))
  assert.equal(ja.call.participants()[0]!.name, 'Bob')
  assert.deepEqual(ja.call.participants()[0]!.media, MEDIA)
  await waitFor('A to get B\'s key and B A\'s', () => sameKey(keyOf(ja, jb), jb.result.ownKey) && sameKey(keyOf(jb, ja), ja.result.ownKey))
  await waitFor('both calls to be connected', () => [ja, jb].every(j => j.events.some(e => e.type === 'state' && e.state === 'connected')))

  const jc = await join(sc, 'standup', 'Cy')
  await waitFor('all three to see each other', () => sees(ja, jc) && sees(jb, jc) && sees(jc, ja) && sees(jc, jb))
  await waitFor('C to get both keys', () => sameKey(keyOf(jc, ja), ja.result.ownKey) && sameKey(keyOf(jc, jb), jb.result.ownKey))
  assert.ok(ja.events.some(e => e.type === 'joined' && e.participant.peerId === jc.peerId && e.participant.name === 'Cy'))

  // A signals B, then C: C hears both messages (same topic) but its page gets only its own
  const offer = { sdp: { type: 'offer' as const, sdp: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n' } }
  await ja.call.signal(jb.peerId, '00000000000000b0', offer)
  await ja.call.signal(jc.peerId, '00000000000000c0', { candidate: null })
  await waitFor('B to get its offer', () => jb.events.some(e => e.type === 'signal' && e.sid === '00000000000000b0'))
  await waitFor('C to get its candidate', () => jc.events.some(e => e.type === 'signal' && e.sid === '00000000000000c0'))
  const atB = jb.events.find(e => e.type === 'signal') as Extract<CallEvent, { type: 'signal' }>
  assert.deepEqual(atB, { type: 'signal', from: ja.peerId, sid: '00000000000000b0', data: offer })
  assert.deepEqual(jc.events.filter(e => e.type === 'signal').map(e => (e as { sid: string }).sid), ['00000000000000c0'])
  assert.ok(!jb.events.some(e => e.type === 'signal' && e.sid === '00000000000000c0'))
  // signals go to members only
  await assert.rejects(ja.call.signal(ja.peerId, '0000000000000000', { candidate: null }), (err: unknown) => code(err) === ErrorCode.INVALID_PARAMS)

  // media flags reach the others as an update
  await jb.call.setMedia({ audio: false, video: true, screen: true })
  await waitFor('A to see B\'s new media', () => ja.events.some(e => e.type === 'updated' && e.participant.peerId === jb.peerId && e.participant.media.screen))

  // C leaves: A and B are told why, and each makes a new key that reaches the other but not C
  const keysAtC = jc.events.filter(e => e.type === 'media-key').length
  await jc.call.end('left')
  assert.ok(jc.events.some(e => e.type === 'state' && e.state === 'left'))
  await waitFor('A and B to see C leave', () => [ja, jb].every(j => j.events.some(e => e.type === 'left' && e.peerId === jc.peerId && e.reason === 'bye')))
  const ownA = await waitFor('A to make a new key', () => ja.events.find((e): e is Extract<CallEvent, { type: 'own-key' }> => e.type === 'own-key'))
  assert.equal(ownA.key.keyId, (ja.result.ownKey.keyId + 1) & 0xffff)
  assert.ok(!Buffer.from(ownA.key.key).equals(Buffer.from(ja.result.ownKey.key)))
  assert.ok(ownA.switchAt > Date.now() - 60_000)
  await waitFor('B to get A\'s new key', () => sameKey(keyOf(jb, ja), ownA.key))
  const ownB = await waitFor('B to make a new key', () => jb.events.find((e): e is Extract<CallEvent, { type: 'own-key' }> => e.type === 'own-key'))
  await waitFor('A to get B\'s new key', () => sameKey(keyOf(ja, jb), ownB.key))
  assert.equal(jc.events.filter(e => e.type === 'media-key').length, keysAtC)
  assert.throws(() => sc.call(jc.call.id), (err: unknown) => code(err) === ErrorCode.CALL_NOT_FOUND)

  await ja.call.end('left')
  await jb.call.end('left')
})

test('a member that goes silent times out, and the others re-key', { timeout: 120_000 }, async () => {
  const [sa, sb] = await Promise.all([service(a), service(b)])
  const ja = await join(sa, 'quiet', 'Ada')
  const jb = await join(sb, 'quiet', 'Bob')
  await waitFor('A and B to see each other', () => sees(ja, jb) && sees(jb, ja))
  // B's network goes away without a bye: its calls pause and A stops hearing it
  await sb.detach()
  await waitFor('A to time B out', () => ja.events.some(e => e.type === 'left' && e.peerId === jb.peerId && e.reason === 'timeout'))
  await waitFor('A to re-key', () => ja.events.some(e => e.type === 'own-key'))
  assert.ok(jb.events.some(e => e.type === 'state' && e.state === 'reconnecting'))
  // B's network comes back: it reconnects and the two find each other again
  await sb.attach(b)
  await waitFor('A and B to see each other again', () => sees(ja, jb) && sees(jb, ja))
  await waitFor('B to be connected again', () => jb.events.filter(e => e.type === 'state' && e.state === 'connected').length >= 2)
  await ja.call.end('left')
  await jb.call.end('left')
})

test('chat seals, opens only as its sender, and the history survives a rejoin', { timeout: 120_000 }, async () => {
  const dbA = `calls-chat-a-${process.pid}`
  const [sa, sb] = await Promise.all([service(a, { dbName: dbA }), service(b)])
  const ja = await join(sa, 'chat', 'Ada')
  const jb = await join(sb, 'chat', 'Bob')
  const { sealed, message } = await ja.call.seal('hello Bob')
  assert.equal(message.own, true)
  assert.equal(message.from, ja.peerId)
  assert.match(message.id, /^[0-9a-f]{16}$/)
  assert.ok(!sealed.includes('hello Bob'))
  const opened = await jb.call.open(ja.peerId, sealed)
  assert.deepEqual(opened, { ...message, own: false })
  // another connection's peer, tampered bytes, another room's key: refused
  await assert.rejects(jb.call.open(jb.peerId, sealed), (err: unknown) => code(err) === ErrorCode.INVALID_PARAMS)
  const parsed = JSON.parse(sealed) as { ct: string }
  await assert.rejects(jb.call.open(ja.peerId, JSON.stringify({ ...parsed, ct: (parsed.ct.startsWith('A') ? 'B' : 'A') + parsed.ct.slice(1) })), (err: unknown) => code(err) === ErrorCode.INVALID_PARAMS)
  const other = await RoomCipher.create(await openRoomKey(ORIGIN, 'chat2'), await openRoomId(ORIGIN, 'chat2'), 0)
  await assert.rejects(jb.call.open(ja.peerId, await other.sealChat({ id: message.id, from: message.from, name: message.name, at: message.at, text: 'x' })), (err: unknown) => code(err) === ErrorCode.INVALID_PARAMS)
  // the same message opened twice is kept once
  await jb.call.open(ja.peerId, sealed)
  await jb.call.seal('hi Ada')
  await ja.call.open(jb.peerId, (await jb.call.seal('second')).sealed)
  await ja.call.end('left')
  // after a restart (a new service on the same database) the history comes back with the join
  const again = await join(await service(a, { dbName: dbA }), 'chat', 'Ada')
  assert.deepEqual(again.result.history.map(m => [m.text, m.own]), [['hello Bob', true], ['second', false]])
  const atB = (await jb.call.joinResult()).history
  assert.deepEqual(atB.map(m => [m.text, m.own]), [['hello Bob', false], ['hi Ada', true], ['second', true]])
  // history is per origin: the same room name elsewhere starts empty
  const elsewhere = await (await service(a, { dbName: dbA })).join({ origin: 'https://other.example', room: 'chat', name: 'Ada', media: MEDIA, onEvent: () => {} })
  assert.deepEqual(elsewhere.result.history, [])
  await elsewhere.call.end('left')
  await again.call.end('left')
  await jb.call.end('left')
})

test('malformed room messages are dropped and counted; unknown types are ignored', { timeout: 120_000 }, async () => {
  const sa = await service(a)
  const ja = await join(sa, 'noisy', 'Ada')
  const topic = roomTopic(ja.result.roomId)
  const pubsub = pubsubOf(c)
  pubsub.subscribe(topic)
  const cipher = await RoomCipher.create(await openRoomKey(ORIGIN, 'noisy'), ja.result.roomId, 0)
  const wrongKey = await RoomCipher.create(new Uint8Array(32), ja.result.roomId, 0)
  const sealRaw = async (value: unknown): Promise<Uint8Array> => await cipher.seal(value as never)
  const junk: Uint8Array[] = [
    new TextEncoder().encode('not json'),
    new TextEncoder().encode(JSON.stringify({ v: 1, kv: 0, iv: 'AAAAAAAAAAAAAAAA', ct: 'A'.repeat(40) })),
    await wrongKey.seal({ type: 'bye' }),
    await sealRaw({ type: 'hello', name: 'x'.repeat(65), ecdh: 'A', joinedAt: 1, forwarder: null, media: MEDIA }),
    await sealRaw({ type: 'hello', name: 'Mallory', ecdh: 'B' + 'A'.repeat(86), joinedAt: 1, forwarder: null, media: MEDIA }), // not a P-256 point
    await sealRaw({ type: 'signal', to: ja.peerId, sid: '0000000000000001', data: { candidate: null } }), // not a member
    new TextEncoder().encode(JSON.stringify({ v: 1, notice: 'rekey', kv: 3 })) // an open room has no rekeys
  ]
  const ignored = await sealRaw({ type: 'reaction', emoji: 'x' })
  // gossipsub needs a moment to learn that A subscribes: publish until A has counted them all
  await waitFor('A to count the junk', () => {
    if (ja.call.stats().dropped >= junk.length) return true
    for (const data of [...junk, ignored]) void pubsub.publish(topic, data).catch(() => {})
    return false
  })
  await ja.call.settled()
  assert.equal(ja.call.participants().length, 0)
  assert.ok(!ja.events.some(e => e.type === 'joined' || e.type === 'signal'))
  assert.equal(ja.call.stats().members, 0)
  // the call still works: a real member is still admitted
  const jb = await join(await service(b), 'noisy', 'Bob')
  await waitFor('A to see B', () => sees(ja, jb))
  pubsub.unsubscribe(topic)
  await ja.call.end('left')
  await jb.call.end('left')
})

test('limits and codes: bad rooms 5000, unknown calls 5020, a second join or a full room 5021', { timeout: 120_000 }, async () => {
  const [sa, sb, sc] = await Promise.all([service(a, { maxParticipants: 2 }), service(b, { maxParticipants: 2 }), service(c, { maxParticipants: 2 })])
  await assert.rejects(sa.join({ origin: ORIGIN, room: 'no spaces', name: 'Ada', media: MEDIA, onEvent: () => {} }), (err: unknown) => code(err) === ErrorCode.INVALID_PARAMS)
  assert.throws(() => sa.call('0123456789abcdef'), (err: unknown) => code(err) === ErrorCode.CALL_NOT_FOUND)
  // without a key service a gated room cannot be joined
  await assert.rejects(sa.join({ origin: ORIGIN, room: '0x' + '12'.repeat(32), name: 'Ada', media: MEDIA, onEvent: () => {} }), (err: unknown) => isPeerloomError(err))
  const ja = await join(sa, 'small', 'Ada')
  await assert.rejects(sa.join({ origin: ORIGIN, room: 'small', name: 'Ada again', media: MEDIA, onEvent: () => {} }), (err: unknown) => code(err) === ErrorCode.CALL_LIMIT)
  const jb = await join(sb, 'small', 'Bob')
  await waitFor('A and B to see each other', () => sees(ja, jb) && sees(jb, ja))
  const jc = await join(sc, 'small', 'Cy')
  const ended = await waitFor('C to be turned away', () => jc.events.find((e): e is Extract<CallEvent, { type: 'state' }> => e.type === 'state' && e.state === 'left'))
  assert.equal(ended.code, ErrorCode.CALL_LIMIT)
  assert.ok(jc.call.isEnded)
  assert.ok(ja.call.stats().refused > 0)
  assert.ok(!sees(ja, jc) && !sees(jb, jc))
  assert.ok(!ja.events.some(e => e.type === 'joined' && e.participant.peerId === jc.peerId))
  await ja.call.end('left')
  await jb.call.end('left')
})

/** A key service stand-in: one key per version, and holders it can refuse. */
class FakeKeyService implements GatedRoomKeys {
  version = 0
  readonly keys = [crypto.getRandomValues(new Uint8Array(32))]
  readonly refused = new Set<string>()
  readonly asked: Array<{ who: string, fresh: boolean }> = []
  registered = true

  for (who: string): GatedRoomKeys {
    return {
      key: async (_contentId, options): Promise<RoomKey> => {
        this.asked.push({ who, fresh: options.fresh })
        if (!this.registered) throw new NotFoundError('no such room is registered')
        if (this.refused.has(who)) throw new AccessDeniedError('your balance no longer meets the policy')
        return { key: this.keys[this.version]!, keyVersion: this.version }
      }
    }
  }

  async key (): Promise<RoomKey> { throw new Error('use for(who)') }

  rotate (): void {
    this.keys.push(crypto.getRandomValues(new Uint8Array(32)))
    this.version++
  }
}

test('a gated room: members join with the service\'s key; a rekey notice removes the holder the service refuses (5011)', { timeout: 120_000 }, async () => {
  const keyService = new FakeKeyService()
  const room = '0x' + 'ab'.repeat(32)
  const [sa, sb] = await Promise.all([service(a, { gatedKeys: keyService.for('a') }), service(b, { gatedKeys: keyService.for('b') })])
  const ja = await join(sa, room, 'Ada')
  const jb = await join(sb, room, 'Bob')
  assert.equal(ja.result.roomId, room)
  assert.ok(keyService.asked.every(q => q.fresh))
  await waitFor('A and B to see each other', () => sees(ja, jb) && sees(jb, ja))
  await waitFor('keys exchanged', () => keyOf(ja, jb) !== undefined && keyOf(jb, ja) !== undefined)

  // the service drops B, rotates the key and publishes a notice (from a third peer, as the key service's relay would)
  keyService.refused.add('b')
  keyService.rotate()
  const topic = roomTopic(room)
  const notice = new TextEncoder().encode(JSON.stringify({ v: 1, notice: 'rekey', kv: 1 }))
  pubsubOf(c).subscribe(topic)
  await waitFor('both to act on the notice', () => {
    if (ja.call.stats().kv === 1 && jb.call.isEnded) return true
    void pubsubOf(c).publish(topic, notice).catch(() => {})
    return false
  })
  const removed = jb.events.find((e): e is Extract<CallEvent, { type: 'state' }> => e.type === 'state' && e.state === 'removed')
  assert.equal(removed?.code, ErrorCode.ACCESS_DENIED)
  assert.match(removed?.reason ?? '', /balance/)
  await waitFor('A to drop B', () => ja.events.some(e => e.type === 'left' && e.peerId === jb.peerId))
  await waitFor('A to re-key its media', () => ja.events.some(e => e.type === 'own-key'))
  pubsubOf(c).unsubscribe(topic)
  await ja.call.end('left')

  // an unregistered room: 5001
  keyService.registered = false
  await assert.rejects(sa.join({ origin: ORIGIN, room: '0x' + 'cd'.repeat(32), name: 'Ada', media: MEDIA, onEvent: () => {} }), (err: unknown) => code(err) === ErrorCode.NOT_FOUND)
  keyService.registered = true
  await assert.rejects(sb.join({ origin: ORIGIN, room, name: 'Bob', media: MEDIA, onEvent: () => {} }), (err: unknown) => code(err) === ErrorCode.ACCESS_DENIED)
})

test('chat history keeps the last messages per origin and room, each once', async () => {
  const history = new ChatHistory(await openCallsDb(`calls-history-${process.pid}`), 3)
  const roomId = '0x' + '01'.repeat(32)
  const message = (n: number, from = 'peerA'): { id: string, from: string, name: string, at: number, text: string, own: boolean } =>
    ({ id: n.toString(16).padStart(16, '0'), from, name: 'Ada', at: 1000 + n, text: `m${n}`, own: false })
  for (let n = 0; n < 5; n++) assert.equal(await history.add(ORIGIN, roomId, message(n)), true)
  assert.equal(await history.add(ORIGIN, roomId, message(4)), false)
  assert.equal(await history.add(ORIGIN, roomId, message(4, 'peerB')), true) // another sender may reuse an id
  await history.add('https://other.example', roomId, message(9))
  assert.deepEqual((await history.list(ORIGIN, roomId)).map(m => m.text), ['m3', 'm4', 'm4'])
  assert.deepEqual((await history.list('https://other.example', roomId)).map(m => m.text), ['m9'])
})
