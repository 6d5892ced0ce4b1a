/**
 * RoomCall on its own, with the room's messages passed by hand so their order is the test's:
 * gossipsub gives no order between two authors, so a member's offer can reach a joiner before
 * that member's hello does.
 */
import './polyfills.ts'
import 'fake-indexeddb/auto'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { logger } from '@libp2p/logger'
import type { CallEvent } from '@peerloom/shared/calls/api'
import { RoomCipher, generateEcdhKeyPair, openRoomId, openRoomKey, parseEnvelope } from '@peerloom/shared/calls/room'
import { ChatHistory, openCallsDb } from '../src/calls/calls-db.ts'
import { EARLY_SIGNALS_PER_PEER, RoomCall } from '../src/calls/room-call.ts'
import type { ForwarderLink, RoomCallInit } from '../src/calls/room-call.ts'

const ORIGIN = 'https://meet.example'
const MEDIA = { audio: true, video: true, screen: false }
// peer ids as the schema takes them (base58, 40+ characters); b's sorts after a's
const A = '16Uiu2HAmAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
const B = '16Uiu2HAmBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'
const C = '16Uiu2HAmCccccccccccccccccccccccccccccccccccccccccccc'
const SID = '0123456789abcdef'

interface Side {
  call: RoomCall
  /** What it published, in order, not yet delivered. */
  outbox: Uint8Array[]
  events: CallEvent[]
}

async function room (): Promise<{ roomId: string, key: Uint8Array }> {
  return { roomId: await openRoomId(ORIGIN, 'standup'), key: await openRoomKey(ORIGIN, 'standup') }
}

async function side (self: string, name: string, shared: { roomId: string, key: Uint8Array }, db: ChatHistory, extra: Partial<RoomCallInit> = {}): Promise<Side> {
  const outbox: Uint8Array[] = []
  const events: CallEvent[] = []
  const call = new RoomCall({
    callId: `call-${self}`,
    origin: ORIGIN,
    room: { kind: 'open', name: 'standup' },
    roomId: shared.roomId,
    name,
    media: MEDIA,
    self,
    cipher: await RoomCipher.create(shared.key, shared.roomId, 0),
    ecdh: await generateEcdhKeyPair(),
    publish: async data => { outbox.push(data) },
    history: db,
    onEvent: event => { events.push(event) },
    onEnded: () => {},
    iceServers: [],
    maxParticipants: 32,
    log: logger('peerloom:test:room-call'),
    ...extra
  })
  return { call, outbox, events }
}

/** The body type of a published envelope, read with the room key (as a member would). */
async function typeOf (data: Uint8Array, cipher: RoomCipher): Promise<string> {
  const envelope = parseEnvelope(data)
  if ('notice' in envelope) return 'notice'
  return (await cipher.open(envelope))?.type ?? 'unknown'
}

/** Ada (A) and Bob (B) in one open room, started, each with its outbox undelivered; `cipher` reads what they publish. */
async function startPair (db: string): Promise<{ a: Side, b: Side, cipher: RoomCipher }> {
  const shared = await room()
  const history = new ChatHistory(await openCallsDb(`room-call-test-${process.pid}-${db}`))
  const a = await side(A, 'Ada', shared, history)
  const b = await side(B, 'Bob', shared, history)
  a.call.start()
  b.call.start()
  return { a, b, cipher: await RoomCipher.create(shared.key, shared.roomId, 0) }
}

async function deliver (from: Side, fromId: string, to: Side, pick: (type: string) => boolean, cipher: RoomCipher): Promise<void> {
  const kept: Uint8Array[] = []
  for (const data of from.outbox.splice(0)) {
    if (pick(await typeOf(data, cipher))) to.call.receive(fromId, data)
    else kept.push(data)
  }
  from.outbox.push(...kept)
  await to.call.settled()
}

test('a signal that arrives before its sender\'s hello reaches the page once the sender is admitted', async () => {
  const { a, b, cipher } = await startPair('1')
  try {
    // b hears a's hello and admits it; a has not heard b yet
    await a.call.settled()
    await waitFor(() => a.outbox.length > 0)
    await deliver(a, A, b, type => type === 'hello', cipher)
    assert.ok(b.events.some(e => e.type === 'joined' && e.participant.peerId === A))
    // b's page offers to a (b is a member of b's view) before b's hello reaches a
    await b.call.signal(A, SID, { sdp: { type: 'offer', sdp: 'v=0' } })
    await deliver(b, B, a, type => type === 'signal', cipher)
    assert.equal(a.events.filter(e => e.type === 'signal').length, 0, 'a signal from a non-member is not handed to the page')
    // now b's hello arrives: a admits b, then hands over the held offer
    await deliver(b, B, a, type => type === 'hello', cipher)
    const joined = a.events.findIndex(e => e.type === 'joined' && e.participant.peerId === B)
    const signal = a.events.findIndex(e => e.type === 'signal' && e.from === B && e.sid === SID)
    assert.ok(joined >= 0 && signal > joined, `joined at ${joined}, then the held signal at ${signal}`)
  } finally {
    await a.call.end('left')
    await b.call.end('left')
  }
})

test('a joiner admitted just after the member\'s last hello still gets a hello back, once the gap is over', async () => {
  const shared = await room()
  const history = new ChatHistory(await openCallsDb(`room-call-test-${process.pid}-answer`))
  // one fixed clock: the joiner is admitted 0 ms after b's hello, inside ANSWER_MIN_GAP_MS
  const now = (): number => 1_000_000
  const a = await side(A, 'Ada', shared, history, { now })
  const b = await side(B, 'Bob', shared, history, { now })
  const cipher = await RoomCipher.create(shared.key, shared.roomId, 0)
  try {
    // neither is started, so no presence tick or join burst says hello: only an answer can
    await b.call.setMedia(MEDIA)
    b.outbox.splice(0)
    await a.call.setMedia(MEDIA)
    await deliver(a, A, b, type => type === 'hello', cipher)
    assert.ok(b.events.some(e => e.type === 'joined' && e.participant.peerId === A))
    await waitFor(() => b.outbox.length >= 2, 5_000)
    const types = await Promise.all(b.outbox.map(async data => await typeOf(data, cipher)))
    assert.deepEqual(types, ['key', 'hello'], 'the key at once, the hello at the gap\'s end')
  } finally {
    await a.call.end('left')
    await b.call.end('left')
  }
})

test('a media key that arrives before its sender\'s hello is used once the sender is admitted', async () => {
  const { a, b, cipher } = await startPair('6')
  try {
    // b hears a's hello, admits it and sends a its hello and its key; the key reaches a first
    await waitFor(() => a.outbox.length > 0)
    await deliver(a, A, b, type => type === 'hello', cipher)
    await waitFor(() => b.outbox.length > 0)
    await deliver(b, B, a, type => type === 'key', cipher)
    assert.deepEqual(keyIdsFrom(a, B), [], 'not handed to the page before b is a member')
    // b's hello: a admits b and opens the key it kept, with no second copy needed
    await deliver(b, B, a, type => type === 'hello', cipher)
    assert.deepEqual(keyIdsFrom(a, B), [b.call.stats().keyId])
  } finally {
    await a.call.end('left')
    await b.call.end('left')
  }
})

test('an open room never asks the key service, not even on a rekey notice: its key comes from its name', async () => {
  const shared = await room()
  const asked: string[] = []
  const gatedKeys = { key: async (contentId: string) => { asked.push(contentId); throw new Error('no chain configured') } }
  const a = await side(A, 'Ada', shared, new ChatHistory(await openCallsDb(`room-call-test-${process.pid}-open`)), { gatedKeys })
  a.call.start()
  try {
    a.call.receive(B, new TextEncoder().encode(JSON.stringify({ v: 1, notice: 'rekey', kv: 1 })))
    await a.call.settled()
    assert.deepEqual(asked, [])
    assert.equal(a.call.stats().kv, 0)
  } finally {
    await a.call.end('left')
  }
})

test('only EARLY_SIGNALS_PER_PEER signals of a non-member are held; the rest are dropped and counted', async () => {
  const { a, b, cipher } = await startPair('2')
  try {
    await waitFor(() => a.outbox.length > 0)
    await deliver(a, A, b, type => type === 'hello', cipher)
    for (let i = 0; i < EARLY_SIGNALS_PER_PEER + 5; i++) await b.call.signal(A, SID, { candidate: { candidate: `candidate:${i}`, sdpMid: '0' } })
    const before = a.call.stats().dropped
    await deliver(b, B, a, type => type === 'signal', cipher)
    assert.equal(a.call.stats().dropped - before, 5)
    await deliver(b, B, a, type => type === 'hello', cipher)
    assert.equal(a.events.filter(e => e.type === 'signal').length, EARLY_SIGNALS_PER_PEER)
  } finally {
    await a.call.end('left')
    await b.call.end('left')
  }
})

test('page stats receipt the bytes of a forwarder the call left; only the current one is failed over', async () => {
  const { a, b } = await startPair('3')
  try {
    const received: Array<[string, number]> = []
    const failed: string[] = []
    const link = (forwarder: string): ForwarderLink => ({
      forwarder,
      signal: async () => {},
      received: bytes => { received.push([forwarder, bytes]) },
      failed: () => { failed.push(forwarder) }
    })
    const F1 = '16Uiu2HAmFfffffffffffffffffffffffffffffffffffffffff1'
    const F2 = '16Uiu2HAmFfffffffffffffffffffffffffffffffffffffffff2'
    a.call.useForwarder(link(F1))
    a.call.pageStats({ [F1]: 1000 }, [])
    a.call.useForwarder(link(F2))
    // the page's totals keep what the left forwarder sent, and the last of it arrived after the switch
    a.call.pageStats({ [F1]: 1500, [F2]: 200 }, [F1, F2])
    assert.deepEqual(received, [[F1, 1000], [F1, 1500], [F2, 200]])
    assert.deepEqual(failed, [F2])
    a.call.useForwarder(undefined)
    a.call.pageStats({ [F1]: 1600, [F2]: 300, other: 5 }, [F2])
    assert.deepEqual(received.slice(3), [[F1, 1600], [F2, 300]], 'back in mesh, both links still receipt; an unknown forwarder is ignored')
    assert.deepEqual(failed, [F2], 'no current link: nothing fails over')
  } finally {
    await a.call.end('left')
    await b.call.end('left')
  }
})

/** The media key ids `side`'s page was given for `peerId`, in order. */
function keyIdsFrom (side: Side, peerId: string): number[] {
  return side.events.flatMap(e => e.type === 'media-key' && e.peerId === peerId ? [e.key.keyId] : [])
}

test('a member timed out here keeps the key it sent meanwhile: heard again, its page opens its newest frames', async () => {
  const { a, b, cipher } = await startPair('4')
  const shared = await room()
  const c = await side(C, 'Cy', shared, new ChatHistory(await openCallsDb(`room-call-test-${process.pid}-4c`)))
  c.call.start()
  try {
    // a and b in the room with each other's keys; c joins b
    await waitFor(() => a.outbox.length > 0 && b.outbox.length > 0 && c.outbox.length > 0)
    for (let round = 0; round < 3; round++) {
      await deliver(a, A, b, () => true, cipher)
      await deliver(b, B, a, () => true, cipher)
    }
    assert.equal(keyIdsFrom(a, B).at(-1), b.call.stats().keyId)
    await deliver(c, C, b, () => true, cipher)
    assert.ok(b.events.some(e => e.type === 'joined' && e.participant.peerId === C))
    // a stops hearing b (b still hears a) until b times out at a
    await waitFor(() => a.events.some(e => e.type === 'left' && e.peerId === B && e.reason === 'timeout'), 20_000, async () => { await deliver(a, A, b, () => true, cipher) })
    // meanwhile c leaves b: b rotates and sends its new key to a, which has b timed out
    const before = b.call.stats().keyId
    await c.call.end('left')
    await deliver(c, C, b, type => type === 'bye', cipher)
    await waitFor(() => b.call.stats().keyId !== before)
    let keys = 0
    await waitFor(() => keys > 0, 10_000, async () => { keys = (await Promise.all(b.outbox.map(async data => await typeOf(data, cipher)))).filter(type => type === 'key').length })
    await deliver(b, B, a, type => type === 'key', cipher)
    // b is heard again at a: a's page gets b's newest key, not the one it had when b timed out
    await deliver(b, B, a, type => type === 'hello', cipher)
    assert.ok(a.events.filter(e => e.type === 'joined' && e.participant.peerId === B).length >= 2)
    assert.equal(keyIdsFrom(a, B).at(-1), b.call.stats().keyId)
  } finally {
    await a.call.end('left')
    await b.call.end('left')
  }
})

test('a member whose key never arrived is asked for it, and the asked member sends it again', async () => {
  const { a, b, cipher } = await startPair('5')
  try {
    // both admit each other, but b's keys never reach a (lost on the way)
    await waitFor(() => a.outbox.length > 0 && b.outbox.length > 0)
    await deliver(a, A, b, () => true, cipher)
    await deliver(b, B, a, type => type === 'hello', cipher)
    await deliver(a, A, b, () => true, cipher)
    await deliver(b, B, a, type => type === 'hello', cipher)
    assert.ok(a.events.some(e => e.type === 'joined' && e.participant.peerId === B))
    assert.equal(a.events.some(e => e.type === 'media-key' && e.peerId === B), false)
    // b's hellos go on naming its key id; after KEY_REQUEST_AFTER_MS a asks b
    await waitFor(() => a.call.stats().keyRequests > 0, 20_000, async () => {
      await deliver(b, B, a, type => type === 'hello', cipher)
      await deliver(a, A, b, type => type === 'hello', cipher)
    })
    await deliver(a, A, b, type => type === 'key-request', cipher)
    await deliver(b, B, a, type => type === 'key', cipher)
    assert.deepEqual(keyIdsFrom(a, B), [b.call.stats().keyId])
    // a has it now: its next hellos from b ask nothing more
    const asked = a.call.stats().keyRequests
    for (let i = 0; i < 3; i++) {
      await new Promise(resolve => setTimeout(resolve, 1000))
      await deliver(b, B, a, type => type === 'hello', cipher)
    }
    assert.equal(a.call.stats().keyRequests, asked)
  } finally {
    await a.call.end('left')
    await b.call.end('left')
  }
})

/** Polls `condition`, running `meanwhile` (if any) between polls. */
async function waitFor (condition: () => boolean, timeoutMs = 30_000, meanwhile?: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition')
    await new Promise(resolve => setTimeout(resolve, 10))
    await meanwhile?.()
  }
}
